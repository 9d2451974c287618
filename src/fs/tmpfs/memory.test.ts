import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ROOT_ID } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_RDWR, ctx } from './test-context.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const c = ctx();
const MB = 1024 * 1024;

function used(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('tmpfs memory use', () => {
  it('100,000 empty files fit in well under 200 MB', (t) => {
    const base = used();
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'many', 0o755).ino;
    const start = performance.now();
    for (let i = 0; i < 100_000; i++) fs.mknod(c, d, `file-${i}`, 0o100644, 0);
    const ms = performance.now() - start;
    const grown = used() - base;
    assert.equal(fs.usage().inodes, 100_002);
    t.diagnostic(`100k empty files: ${(grown / MB).toFixed(1)} MB (${(grown / 100_000).toFixed(0)} B/file), created in ${ms.toFixed(0)} ms`);
    assert.ok(grown < 60 * MB, `${grown} bytes`);
    assert.equal(fs.usage().inodes, 100_002);
  });

  it('a 4 GiB sparse file with a few pages costs kilobytes; dense data costs about its size', (t) => {
    const fs = new Tmpfs({ size: 0 });
    const { entry, open } = fs.create(c, ROOT_ID, 'sparse', 0o644, O_RDWR);
    const dense = fs.create(c, ROOT_ID, 'dense', 0o644, O_RDWR);
    const base = used();
    for (const off of [0, 1 << 30, 2 ** 32 - 4096]) fs.write(c, entry.ino, open.fh!, off, new Uint8Array(4096).fill(1), 0);
    assert.equal(fs.getattr(c, entry.ino).attr.size, 2 ** 32);
    const sparse = used() - base;
    t.diagnostic(`4 GiB sparse file with 3 pages: ${(sparse / 1024).toFixed(1)} KiB`);
    assert.ok(sparse < 512 * 1024, `${sparse} bytes`);

    for (let off = 0; off < 64 * MB; off += 128 * 1024) {
      // A view that does not span its buffer is copied, page by page.
      const chunk = new Uint8Array(128 * 1024 + 1).fill(2).subarray(1);
      fs.write(c, dense.entry.ino, dense.open.fh!, off + 1, chunk, 0);
    }
    const grown = used() - base - sparse;
    t.diagnostic(`64 MiB of data: ${(grown / MB).toFixed(1)} MB`);
    assert.ok(grown > 64 * MB && grown < 80 * MB, `${grown} bytes`);
    // Keeps `fs` alive up to here (V8 may collect what is no longer used).
    assert.equal(fs.usage().blocks, 3 + 64 * 256 + 1);
  });
});
