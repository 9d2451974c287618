/**
 * The preamble `puffs serve` and attach(url) exchange on a new connection,
 * before any FUSE frame:
 *
 *   client → server   "PUFFS/1\n"  u32le token length  token bytes (≤ 4096)
 *   server → client   "PUFFS/1\n"  u32le status (0 = welcome, else an errno)
 *
 * The server compares tokens in constant time (SHA-256 digests compared
 * with timingSafeEqual) and answers before closing a refused peer, so the
 * client can say why. Nothing of the file system runs before the welcome.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { FsError, codeOf } from '../errors.js';

export const MAGIC = Buffer.from('PUFFS/1\n', 'latin1');
export const MAX_TOKEN = 4096;
export const STATUS_OK = 0;

/** The client's preamble. */
export function encodeHello(token: string | undefined): Buffer {
  const t = Buffer.from(token ?? '', 'utf8');
  if (t.byteLength > MAX_TOKEN) throw new RangeError(`token longer than ${MAX_TOKEN} bytes`);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(t.byteLength, 0);
  return Buffer.concat([MAGIC, len, t]);
}

/** The server's answer. */
export function encodeStatus(status: number): Buffer {
  const b = Buffer.alloc(MAGIC.byteLength + 4);
  MAGIC.copy(b, 0);
  b.writeUInt32LE(status, MAGIC.byteLength);
  return b;
}

/** Constant-time token comparison (digests, so lengths do not leak either). */
export function tokensEqual(given: Uint8Array, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Read exactly `n` bytes from a stream that is not flowing, leaving anything
 * after them buffered in the stream (it is read in 'readable' mode, so a
 * 'data' listener added afterwards starts the flow as usual). Rejects on
 * end, error or timeout.
 */
export function readExactly(stream: Duplex, n: number, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new FsError('ETIMEDOUT', { message: `${what}: nothing within ${timeoutMs} ms` })), timeoutMs);
    const onReadable = (): void => {
      const chunk = stream.read(n) as Buffer | null;
      if (chunk === null) return;
      if (chunk.byteLength < n) finish(new FsError('ECONNRESET', { message: `${what}: the peer closed the connection` }));
      else finish(undefined, chunk);
    };
    const onEnd = (): void => finish(new FsError('ECONNRESET', { message: `${what}: the peer closed the connection` }));
    const onError = (err: Error): void => finish(err);
    let done = false;
    function finish(err: Error | undefined, value?: Buffer): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      stream.off('error', onError);
      if (err) reject(err);
      else resolve(value!);
    }
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
  });
}

/** Client side: send the preamble, wait for the welcome. Throws an FsError when refused. */
export async function clientHandshake(stream: Duplex, token: string | undefined, timeoutMs = 10_000): Promise<void> {
  stream.write(encodeHello(token));
  const answer = await readExactly(stream, MAGIC.byteLength + 4, timeoutMs, 'puffs handshake');
  if (!answer.subarray(0, MAGIC.byteLength).equals(MAGIC)) {
    throw new FsError('EPROTO', { message: 'the server did not answer the puffs handshake (is it `puffs serve`?)' });
  }
  const status = answer.readUInt32LE(MAGIC.byteLength);
  if (status !== STATUS_OK) {
    const code = codeOf(status);
    const why = code === 'EACCES' ? 'the server refused the token' : `the server refused the connection (${code})`;
    throw new FsError(code.startsWith('E') && code !== `E${status}` ? code : 'ECONNREFUSED', { message: why });
  }
}
