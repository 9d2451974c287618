/**
 * Malformed wire data: each kind of damage is refused with a ProtocolError of
 * the right kind (and, once the header is readable, the header, so the
 * session can still answer the request).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeDirents,
  decodeNotification,
  decodeReply,
  decodeRequest,
  DirentPacker,
  encodeNotification,
  encodeReply,
  encodeRequest,
  ProtocolError,
  type ProtocolErrorKind,
} from './codec.js';

/** A request frame: the 40-byte header (len filled in unless given) and a body. */
function frame(opcode: number, body: Uint8Array | number[] = [], opts: { unique?: number; len?: number; totalExtlen?: number } = {}): Buffer {
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(opts.len ?? b.byteLength, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeUInt32LE(opts.unique ?? 42, 8);
  b.writeUInt32LE(1, 16); // nodeid
  b.writeUInt16LE(opts.totalExtlen ?? 0, 36);
  Buffer.from(body).copy(b, 40);
  return b;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return [...b];
};
const zeros = (n: number) => new Array<number>(n).fill(0);
const str = (s: string) => [...Buffer.from(s)];

/** Asserts fn throws a ProtocolError of `kind`; returns it. */
function refuses(fn: () => unknown, kind: ProtocolErrorKind, message?: string): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `${message ?? kind}: no error thrown`);
  assert.ok(caught instanceof ProtocolError, `${message ?? kind}: threw ${String(caught)} (${(caught as Error)?.constructor?.name}), not a ProtocolError`);
  assert.equal(caught.kind, kind, `${message ?? kind}: ${caught.message}`);
  assert.equal(caught.code, 'EPROTO');
  assert.equal(caught.name, 'ProtocolError');
  return caught;
}

const header = { unique: 42, nodeid: 1, uid: 0, gid: 0, pid: 1 };

// ---- requests -------------------------------------------------------------------------

test('frames shorter than the header: short-frame, no header', () => {
  for (const n of [0, 1, 16, 39]) {
    const e = refuses(() => decodeRequest(Buffer.alloc(n)), 'short-frame', `${n} bytes`);
    assert.equal(e.header, undefined);
  }
});

test('length field differing from the frame size: bad-length, with the header', () => {
  const lookup = encodeRequest({ op: 'lookup', header, name: 'a' }) as Buffer;
  for (const len of [0, 40, lookup.byteLength - 1, lookup.byteLength + 1, 0xffffffff]) {
    const f = Buffer.from(lookup);
    f.writeUInt32LE(len, 0);
    const e = refuses(() => decodeRequest(f), 'bad-length', `len ${len}`);
    assert.equal(e.header?.unique, 42);
  }
  // A frame with trailing bytes the length field does not cover.
  refuses(() => decodeRequest(Buffer.concat([lookup, Buffer.alloc(8)])), 'bad-length');
});

test('unknown opcodes: unknown-opcode, with the header so the unique is known', () => {
  for (const opcode of [0, 7, 19, 54, 4096, 0xffffffff]) {
    const e = refuses(() => decodeRequest(frame(opcode, [], { unique: 0x1234 })), 'unknown-opcode', `opcode ${opcode}`);
    assert.equal(e.header?.unique, 0x1234);
    assert.equal(e.header?.opcode, opcode);
  }
});

test('an argument shorter than its struct: short-body', () => {
  refuses(() => decodeRequest(frame(3, zeros(8))), 'short-body', 'getattr with 8 of 16 bytes');
  refuses(() => decodeRequest(frame(4, zeros(87))), 'short-body', 'setattr with 87 of 88 bytes');
  refuses(() => decodeRequest(frame(16, zeros(24))), 'short-body', 'write with the pre-7.9 24-byte argument');
  refuses(() => decodeRequest(frame(26, zeros(15))), 'short-body', 'init with 15 bytes');
  refuses(() => decodeRequest(frame(26, zeros(8))), 'short-body', 'init with 8 bytes');
  refuses(() => decodeRequest(frame(21, zeros(15)), { setxattrExt: true }), 'short-body', 'setxattr ext with 15 bytes');
  const e = refuses(() => decodeRequest(frame(2, [])), 'short-body', 'forget with no argument');
  assert.equal(e.header?.unique, 42);
});

test('names: missing NUL or invalid UTF-8 is bad-name', () => {
  refuses(() => decodeRequest(frame(1, str('abc'))), 'bad-name', 'lookup without NUL');
  refuses(() => decodeRequest(frame(1, [])), 'bad-name', 'lookup with no name at all');
  refuses(() => decodeRequest(frame(6, [...str('link'), 0, ...str('target')])), 'bad-name', 'symlink target without NUL');
  refuses(() => decodeRequest(frame(12, [...zeros(8), ...str('a'), 0])), 'bad-name', 'rename without the new name');
  const invalid: number[][] = [
    [0xff, 0],
    [0x61, 0xc3, 0], // truncated 2-byte sequence
    [0xc0, 0xaf, 0], // overlong '/'
    [0xed, 0xa0, 0x80, 0], // UTF-16 surrogate
    [0xf4, 0x90, 0x80, 0x80, 0], // above U+10FFFF
    [0x80, 0], // lone continuation byte
  ];
  for (const bytes of invalid) {
    const e = refuses(() => decodeRequest(frame(1, bytes)), 'bad-name', `lookup ${Buffer.from(bytes).toString('hex')}`);
    assert.equal(e.header?.unique, 42);
  }
  // A real U+FFFD in a name is valid UTF-8 and decodes as itself.
  const req = decodeRequest(frame(1, [...str('a\uFFFDb'), 0]));
  assert.equal(req.op === 'lookup' && req.name, 'a\uFFFDb');
});

test('a name whose only NUL lies in the extension area is bad-name', () => {
  // lookup "abc" with no NUL, then an 8-byte extension (unknown type 99) whose bytes contain zeros.
  const f = frame(1, [...str('abc'), ...u32(8), ...u32(99)], { totalExtlen: 1 });
  refuses(() => decodeRequest(f), 'bad-name');
});

test('write: a size field larger than the payload is short-body', () => {
  const w = encodeRequest({
    op: 'write',
    header,
    arg: { fh: 1, offset: 0, size: 0, writeFlags: 0, lockOwner: 0n, flags: 0 },
    data: Buffer.from('hello'),
  }) as Buffer;
  w.writeUInt32LE(6, 40 + 16); // fuse_write_in.size
  refuses(() => decodeRequest(w), 'short-body');
  w.writeUInt32LE(0xffffffff, 40 + 16);
  refuses(() => decodeRequest(w), 'short-body');
  // Smaller than the payload is fine: the payload is what the size says.
  w.writeUInt32LE(2, 40 + 16);
  const req = decodeRequest(w);
  assert.equal(req.op === 'write' && Buffer.from(req.data).toString(), 'he');
});

test('notify_reply and setxattr sizes larger than the payload are short-body', () => {
  const nr = encodeRequest({ op: 'notifyReply', header, arg: { offset: 0, size: 0 }, data: Buffer.from('xyz') }) as Buffer;
  nr.writeUInt32LE(4, 40 + 16);
  refuses(() => decodeRequest(nr), 'short-body', 'notify_reply');
  const sx = encodeRequest({ op: 'setxattr', header, arg: { size: 0, flags: 0, setxattrFlags: 0 }, name: 'user.a', data: Buffer.from('v') }) as Buffer;
  sx.writeUInt32LE(2, 40);
  refuses(() => decodeRequest(sx), 'short-body', 'setxattr');
});

test('batch_forget and removemapping: a count exceeding the frame is short-body', () => {
  const bf = encodeRequest({ op: 'batchForget', header, arg: {}, items: [{ nodeid: 5, nlookup: 1 }] } as never) as Buffer;
  assert.equal(bf.byteLength, 40 + 8 + 16);
  for (const count of [2, 1000, 0x0fffffff, 0xffffffff]) {
    bf.writeUInt32LE(count, 40);
    refuses(() => decodeRequest(bf), 'short-body', `batch_forget count ${count}`);
  }
  refuses(() => decodeRequest(frame(42, [...u32(1), 0, 0, 0, 0, ...zeros(15)])), 'short-body', 'batch_forget with 15 of 16 item bytes');
  const rm = encodeRequest({ op: 'removemapping', header, arg: {}, items: [{ moffset: 0, len: 4096 }] } as never) as Buffer;
  rm.writeUInt32LE(3, 40);
  refuses(() => decodeRequest(rm), 'short-body', 'removemapping');
});

test('extensions: bad lengths are bad-extension', () => {
  // total_extlen larger than the body.
  refuses(() => decodeRequest(frame(1, [...str('a'), 0], { totalExtlen: 1 })), 'bad-extension', 'extlen > body');
  refuses(() => decodeRequest(frame(38, [], { totalExtlen: 0xffff })), 'bad-extension', 'extlen 0xffff on an empty body');
  // An extension header claiming size 0 (would loop forever) or less than its own header.
  for (const size of [0, 4, 7]) {
    refuses(() => decodeRequest(frame(38, [...u32(size), ...u32(32)], { totalExtlen: 1 })), 'bad-extension', `ext size ${size}`);
  }
  // An extension running past the frame.
  refuses(() => decodeRequest(frame(38, [...u32(24), ...u32(32), ...u32(1), ...u32(5)], { totalExtlen: 2 })), 'bad-extension', 'ext size 24 in 16 bytes');
  // A group list longer than its extension.
  refuses(() => decodeRequest(frame(38, [...u32(16), ...u32(32), ...u32(3), ...u32(5)], { totalExtlen: 2 })), 'bad-extension', 'nr 3 in 16 bytes');
  refuses(() => decodeRequest(frame(38, [...u32(16), ...u32(32), ...u32(0xffffffff), ...u32(5)], { totalExtlen: 2 })), 'bad-extension', 'nr 2^32-1');
  // A groups extension too small to hold its count.
  refuses(() => decodeRequest(frame(38, [...u32(8), ...u32(32)], { totalExtlen: 1 })), 'bad-extension', 'groups ext of 8 bytes');
  // The header survives for the error reply.
  const e = refuses(() => decodeRequest(frame(38, [], { totalExtlen: 3, unique: 77 })), 'bad-extension');
  assert.equal(e.header?.unique, 77);
});

test('extensions: unknown types are skipped, groups are read', () => {
  const req = decodeRequest(frame(38, [...u32(8), ...u32(7), ...u32(24), ...u32(32), ...u32(2), ...u32(10), ...u32(20), ...u32(0)], { totalExtlen: 4 }));
  assert.equal(req.op, 'destroy');
  assert.deepStrictEqual(req.groups, [10, 20]);
});

// ---- replies and notifications --------------------------------------------------------

function reply(error: number, body: number[] = [], opts: { unique?: number; len?: number } = {}): Buffer {
  const b = Buffer.alloc(16 + body.length);
  b.writeUInt32LE(opts.len ?? b.byteLength, 0);
  b.writeInt32LE(error, 4);
  b.writeUInt32LE(opts.unique ?? 9, 8);
  Buffer.from(body).copy(b, 16);
  return b;
}

test('replies: short frames, bad lengths, short bodies, bad errors', () => {
  for (const n of [0, 8, 15]) refuses(() => decodeReply('getattr', Buffer.alloc(n)), 'short-frame', `${n} bytes`);
  refuses(() => decodeReply('getattr', reply(0, zeros(104), { len: 100 })), 'bad-length');
  refuses(() => decodeReply('getattr', reply(0, zeros(103))), 'short-body', 'attr_out 103 of 104');
  refuses(() => decodeReply('lookup', reply(0, zeros(127))), 'short-body', 'entry_out 127 of 128');
  refuses(() => decodeReply('create', reply(0, zeros(128 + 15))), 'short-body', 'create without a whole open_out');
  refuses(() => decodeReply('ioctl', reply(0, zeros(15))), 'short-body', 'ioctl_out');
  refuses(() => decodeReply('getxattr', reply(0, zeros(7)), 0), 'short-body', 'getxattr_out');
  refuses(() => decodeReply('init', reply(0, zeros(24))), 'short-body', 'init_out');
  for (const err of [1, 4096 * 2, -4096, -0x7fffffff]) refuses(() => decodeReply('getattr', reply(err)), 'bad-length', `error ${err}`);
  assert.deepStrictEqual(decodeReply('getattr', reply(-2)), { unique: 9, error: 2 });
});

test('notifications: unknown codes, non-zero unique, short bodies, bad names, overlong item counts', () => {
  refuses(() => decodeNotification(Buffer.alloc(10)), 'short-frame');
  refuses(() => decodeNotification(reply(1, zeros(8), { unique: 0, len: 99 })), 'bad-length');
  for (const code of [0, 10, 99, -2]) refuses(() => decodeNotification(reply(code, zeros(8), { unique: 0 })), 'unknown-notification', `code ${code}`);
  refuses(() => decodeNotification(reply(1, zeros(8), { unique: 5 })), 'unknown-notification', 'unique != 0');
  refuses(() => decodeNotification(reply(2, zeros(23), { unique: 0 })), 'short-body', 'inval_inode 23 of 24');
  const entry = Buffer.concat(encodeNotification({ kind: 'invalEntry', arg: { parent: 1, namelen: 0, flags: 0 }, name: 'abc' }));
  const noNul = Buffer.from(entry.subarray(0, entry.byteLength - 1));
  noNul.writeUInt32LE(noNul.byteLength, 0);
  refuses(() => decodeNotification(noNul), 'bad-name', 'inval_entry without NUL');
  const bad = Buffer.from(entry);
  bad[16 + 16] = 0xff;
  refuses(() => decodeNotification(bad), 'bad-name', 'inval_entry invalid UTF-8');
  const prune = Buffer.concat(encodeNotification({ kind: 'prune', arg: { count: 0 }, items: [{ nodeid: 3 }] }));
  prune.writeUInt32LE(2, 16);
  refuses(() => decodeNotification(prune), 'short-body', 'prune count 2 with one id');
  prune.writeUInt32LE(0xffffffff, 16);
  refuses(() => decodeNotification(prune), 'short-body', 'prune count 2^32-1');
});

test('directory listings: truncated records and overrunning names are short-body', () => {
  const p = new DirentPacker(256, false);
  p.add({ ino: 1, off: 1, type: 4, name: 'hello' });
  const bytes = Buffer.from(p.finish());
  refuses(() => decodeDirents(bytes.subarray(0, 20), false), 'short-body', 'truncated record');
  const long = Buffer.from(bytes);
  long.writeUInt32LE(100, 16);
  refuses(() => decodeDirents(long, false), 'short-body', 'namelen past the end');
  refuses(() => decodeDirents(bytes, true), 'short-body', 'readdir bytes read as readdirplus');
  assert.deepStrictEqual(decodeDirents(new Uint8Array(0), true), []);
});

test('encode then cut: every prefix of a valid frame is refused, never crashes', () => {
  const frames = [
    encodeRequest({ op: 'lookup', header, name: 'x' }),
    encodeRequest({ op: 'symlink', header, name: 'l', target: 't' }),
    encodeRequest({ op: 'setattr', header, arg: {} } as never),
    Buffer.concat(encodeReply('lookup', 1, {} as never)),
    Buffer.concat(encodeNotification({ kind: 'store', arg: { nodeid: 1, offset: 0, size: 0 }, data: Buffer.from('abc') })),
  ];
  for (const f of frames) {
    for (let n = 0; n < f.byteLength; n++) {
      const cut = Buffer.from(f.subarray(0, n));
      if (n >= 4) cut.writeUInt32LE(n, 0); // keep the length honest so the body checks run
      for (const decode of [() => decodeRequest(cut), () => decodeReply('lookup', cut), () => decodeNotification(cut)]) {
        try {
          decode();
        } catch (e) {
          assert.ok(e instanceof ProtocolError, `prefix ${n}: ${String(e)}`);
        }
      }
    }
  }
});
