/**
 * `puffs serve`: the command around server/serve.ts, which knows sockets and
 * sessions but not the CLI's file systems or its options.
 */
import { readFile } from 'node:fs/promises';
import type * as tls from 'node:tls';
import { parseArgs } from 'node:util';
import { serve, type ServeOptions } from '../server/serve.js';
import { fileSystems } from './registry.js';
import { parseOptions, UsageError } from './options.js';

/** The generic -o options that mean something without a mount. */
const SERVE_TAKES = new Set(['entry_timeout', 'attr_timeout', 'negative_timeout', 'max_write', 'keep_freed']);

const SERVE_HELP = `Usage: puffs serve <fs> --listen URL [--token T | --token-file F] [-o opt[,opt...]] [-d]

Serve file system <fs> to clients that attach without a mount
(attach('unix:/path') or attach('tcp://host:port', { token })).

  --listen URL          unix:/path/to.sock (mode 0600) or tcp://host:port
  --token T             shared secret clients must present (visible in ps: prefer --token-file)
  --token-file F        read the secret from file F (or set PUFFS_TOKEN)
  --tls-cert F --tls-key F   serve TLS (tcp)
  -o opt[,opt...]       entry_timeout=S, attr_timeout=S, negative_timeout=S, max_write=N,
                        keep_freed=S (as for puffs mount), and the file system's own options
  -d, --debug           print each request and reply

A non-loopback tcp:// address needs a token or TLS. Ctrl-C or SIGTERM stops.`;

/** `puffs serve <fs> --listen URL ...`: runs until SIGINT/SIGTERM, then resolves. */
export async function serveCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      listen: { type: 'string', short: 'l' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      o: { type: 'string', short: 'o', multiple: true },
      debug: { type: 'boolean', short: 'd' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP + '\n');
    return;
  }
  const [name] = positionals;
  if (!name || positionals.length > 1 || !values.listen) throw new UsageError(`usage: puffs serve <fs> --listen URL\n${SERVE_HELP}`);
  const factory = fileSystems[name];
  if (!factory) throw new UsageError(`unknown file system '${name}'; known: ${Object.keys(fileSystems).join(', ')}`);
  let token = values.token ?? process.env.PUFFS_TOKEN;
  if (values['token-file']) token = (await readFile(values['token-file'], 'utf8')).replace(/\r?\n$/, '');
  const { mount: given, fsOptions, generic } = parseOptions((values.o ?? []).flatMap((s) => s.split(',')));
  const mountOnly = generic.filter((k) => !SERVE_TAKES.has(k));
  if (mountOnly.length > 0) throw new UsageError(`-o ${mountOnly.join(',')}: for puffs mount only; serve takes ${[...SERVE_TAKES].join(', ')}`);
  // The user's options over the file system's recommended ones.
  const session: NonNullable<ServeOptions['session']> = {};
  const d = factory.defaults ?? {};
  for (const key of ['entryTimeout', 'attrTimeout', 'negativeTimeout', 'maxWrite', 'writebackCache', 'cacheSymlinks', 'readdirplus'] as const) {
    const value = given[key] ?? d[key];
    if (value !== undefined) (session as Record<string, unknown>)[key] = value;
  }
  // No kernel checks permissions for a client: the file system must (default_permissions off).
  const fsys = factory.create(fsOptions, { ...d, ...session, defaultPermissions: false });
  if (values.debug) session.debug = true;
  let tlsOptions: tls.TlsOptions | undefined;
  if (values['tls-cert'] || values['tls-key']) {
    if (!values['tls-cert'] || !values['tls-key']) throw new UsageError('--tls-cert and --tls-key go together');
    tlsOptions = { cert: await readFile(values['tls-cert']), key: await readFile(values['tls-key']) };
  }
  const server = await serve(fsys, { listen: values.listen, token, tls: tlsOptions, session });
  process.stderr.write(`puffs: serving ${name} on ${server.address} (Ctrl-C to stop)\n`);
  const stop = (): void => {
    void server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await server.closed;
  process.off('SIGINT', stop);
  process.off('SIGTERM', stop);
}
