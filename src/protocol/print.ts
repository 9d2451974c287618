/**
 * One-line renderings of requests and replies for the debug trace (like
 * libfuse's -d): `rx 7 lookup n1 "a" uid=0 gid=0 pid=42` and `tx 7 ENOENT`.
 */
import { codeOf } from '../errors.js';
import type { Request, InHeader } from './codec.js';

function fmtValue(v: unknown): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`;
  if (Array.isArray(v)) return `[${v.length}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== 0 && x !== 0n)
      .map(([k, x]) => `${k}=${fmtValue(x)}`)
      .join(' ')}}`;
  }
  return String(v);
}

/** A request as one line. */
export function formatRequest(req: Request): string {
  const h: InHeader = req.header;
  const parts = [`rx ${h.unique} ${req.op} n${h.nodeid}`];
  const r = req as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(r)) {
    if (k === 'op' || k === 'header') continue;
    if (k === 'arg') {
      for (const [ak, av] of Object.entries(v as Record<string, unknown>)) {
        if (av !== 0 && av !== 0n) parts.push(`${ak}=${fmtValue(av)}`);
      }
    } else parts.push(`${k}=${fmtValue(v)}`);
  }
  parts.push(`uid=${h.uid} gid=${h.gid} pid=${h.pid}`);
  return parts.join(' ');
}

/** A reply as one line: an errno name, or OK with a short summary. */
export function formatReply(unique: number, errnoOrValue: number | unknown): string {
  if (typeof errnoOrValue === 'number' && errnoOrValue > 0) return `tx ${unique} ${codeOf(errnoOrValue)}`;
  if (errnoOrValue === undefined) return `tx ${unique} OK`;
  return `tx ${unique} OK ${fmtValue(errnoOrValue)}`;
}

/** A line for an unparseable frame. */
export function formatBadFrame(unique: number | undefined, message: string): string {
  return `rx ${unique ?? '?'} BAD ${message}`;
}
