/** The per-request context handed to file-system methods. */
import { readFileSync } from 'node:fs';
import { keepShape } from '../shapes.js';
import type { RequestContext } from './types.js';

/**
 * Supplementary groups of a process, read from /proc as libfuse's
 * fuse_req_getgroups does. /proc is never our own mount, so a synchronous
 * read here cannot deadlock the server.
 */
export function procGroups(pid: number): number[] {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const line = /^Groups:\s*(.*)$/m.exec(status);
    if (!line || !line[1]) return [];
    return line[1].trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Lazily built pieces: most requests finish before anyone asks for a signal or groups. */
export class Context implements RequestContext {
  private controller?: AbortController;
  private groupList?: readonly number[];

  constructor(
    readonly uid: number,
    readonly gid: number,
    readonly pid: number,
    readonly umask: number,
    readonly unique: number,
    givenGroups: readonly number[] | undefined,
    private readonly groupSource: ((pid: number) => readonly number[]) | undefined,
    private readonly onAttrsChanged: ((ino: number) => void) | undefined,
  ) {
    this.groupList = givenGroups;
  }

  attrsChanged(ino: number): void {
    this.onAttrsChanged?.(ino);
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /** Abort the request (kernel INTERRUPT or session end). */
  abort(reason: Error): void {
    this.controller ??= new AbortController();
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  groups(): readonly number[] {
    this.groupList ??= this.groupSource ? this.groupSource(this.pid) : [];
    return this.groupList;
  }
}

keepShape(new Context(0, 0, 0, 0, 0, undefined, undefined, undefined));
