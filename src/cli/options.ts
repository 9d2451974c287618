/**
 * The -o options of `puffs mount` and `puffs serve`: one parser, so both
 * commands spell and check an option the same way.
 */
import type { PuffsMountOptions } from '../server/mount.js';
import { keepFreedPayloads } from '../slab.js';

/** A command-line mistake: the CLI prints the message alone and exits 2. */
export class UsageError extends Error {}

/**
 * Split -o options into the generic ones and the file system's own. Applies
 * keep_freed on the spot: it is a setting of the process (its free memory),
 * not of one mount.
 */
export function parseOptions(list: string[]): { mount: PuffsMountOptions; fsOptions: string[]; generic: string[] } {
  const m: PuffsMountOptions = {};
  const fsOptions: string[] = [];
  /** Names of the generic options given, for a command that takes only some of them. */
  const generic: string[] = [];
  const num = (k: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`option ${k} needs a non-negative number`);
    return n;
  };
  for (const opt of list) {
    if (!opt) continue;
    const eq = opt.indexOf('=');
    const k = eq < 0 ? opt : opt.slice(0, eq);
    const v = eq < 0 ? undefined : opt.slice(eq + 1);
    switch (k) {
      case 'allow_other':
        m.allowOther = true;
        break;
      case 'default_permissions':
        m.defaultPermissions = true;
        break;
      case 'nodefault_permissions':
        m.defaultPermissions = false;
        break;
      case 'ro':
        m.readOnly = true;
        break;
      case 'rw':
        m.readOnly = false;
        break;
      case 'fsname':
        m.fsname = v;
        break;
      case 'subtype':
        m.subtype = v;
        break;
      case 'max_read':
        m.maxRead = num(k, v);
        break;
      case 'entry_timeout':
        m.entryTimeout = num(k, v);
        break;
      case 'attr_timeout':
        m.attrTimeout = num(k, v);
        break;
      case 'negative_timeout':
        m.negativeTimeout = num(k, v);
        break;
      case 'max_write':
        m.maxWrite = num(k, v);
        break;
      case 'writeback_cache':
        m.writebackCache = true;
        break;
      case 'keep_freed':
        keepFreedPayloads(num(k, v) * 1000);
        break;
      case 'reader':
        if (v !== 'hot' && v !== 'epoll' && v !== 'threadpool') throw new UsageError('reader must be hot, epoll or threadpool');
        m.reader = v;
        break;
      default:
        fsOptions.push(opt);
        continue;
    }
    generic.push(k);
  }
  return { mount: m, fsOptions, generic };
}
