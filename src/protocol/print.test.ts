/** The debug trace lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRequest, encodeRequest } from './codec.js';
import { formatBadFrame, formatReply, formatRequest } from './print.js';

test('formatRequest of a lookup shows the op, the unique, the node, the name and the caller', () => {
  const req = decodeRequest(encodeRequest({ op: 'lookup', header: { unique: 4711, nodeid: 1, uid: 1000, gid: 100, pid: 42 }, name: 'héllo 日本.txt' }));
  const line = formatRequest(req);
  assert.match(line, /\blookup\b/);
  assert.match(line, /\b4711\b/);
  assert.ok(line.includes('"héllo 日本.txt"'), line);
  assert.ok(line.includes('n1'), line);
  assert.ok(line.includes('uid=1000 gid=100 pid=42'), line);
  assert.ok(line.startsWith('rx 4711 lookup'), line);
});

test('formatRequest shows non-zero argument fields, bigints in hex and payload sizes', () => {
  const req = decodeRequest(
    encodeRequest({
      op: 'write',
      header: { unique: 8, nodeid: 5, uid: 0, gid: 0, pid: 1 },
      arg: { fh: 3, offset: 4096, size: 0, writeFlags: 0, lockOwner: 0xabcn, flags: 0 },
      data: Buffer.alloc(10),
    }),
  );
  const line = formatRequest(req);
  assert.ok(line.includes('write'), line);
  assert.ok(line.includes('fh=3'), line);
  assert.ok(line.includes('offset=4096'), line);
  assert.ok(line.includes('size=10'), line);
  assert.ok(line.includes('lockOwner=0xabc'), line);
  assert.ok(line.includes('data=<10 bytes>'), line);
  assert.ok(!line.includes('writeFlags'), `zero fields are left out: ${line}`);
});

test('formatReply names the errno', () => {
  assert.equal(formatReply(7, 2), 'tx 7 ENOENT');
  assert.match(formatReply(9, 38), /^tx 9 ENOSYS$/);
  assert.match(formatReply(9, 13), /EACCES/);
  assert.equal(formatReply(7, undefined), 'tx 7 OK');
  assert.match(formatReply(7, { size: 5, padding: 0 }), /^tx 7 OK \{size=5\}$/);
});

test('formatBadFrame', () => {
  assert.equal(formatBadFrame(undefined, 'short'), 'rx ? BAD short');
  assert.equal(formatBadFrame(3, 'bad name'), 'rx 3 BAD bad name');
});
