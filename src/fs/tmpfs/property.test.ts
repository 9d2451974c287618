import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, ROOT_ID } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { O_RDWR, ctx , readBytes } from './test-context.js';
import { prng } from '../../testing/prng.js';

const c = ctx();
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

/** The obvious model: a flat byte array and a size. */
class Model {
  bytes = new Uint8Array(0);
  size = 0;
  private ensure(n: number): void {
    if (n > this.bytes.length) {
      const b = new Uint8Array(Math.max(n, this.bytes.length * 2));
      b.set(this.bytes);
      this.bytes = b;
    }
  }
  write(off: number, data: Uint8Array): void {
    this.ensure(off + data.length);
    this.bytes.set(data, off);
    this.size = Math.max(this.size, off + data.length);
  }
  truncate(n: number): void {
    this.ensure(n);
    if (n < this.size) this.bytes.fill(0, n, this.size);
    this.size = n;
  }
  zero(off: number, end: number): void {
    this.ensure(end);
    this.bytes.fill(0, off, end);
  }
  view(): Uint8Array {
    return this.bytes.subarray(0, this.size);
  }
}

/** `wide`: offsets over a few 1 MiB chunks, with whole aligned 1 MiB writes (dense chunks) among the rest. */
function run(seed: number, steps: number, sizeLimitPages: number, wide = false): void {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const fs = new Tmpfs({ size: sizeLimitPages * 4096 });
  const mk = (name: string) => {
    const r = fs.create(c, ROOT_ID, name, 0o644, O_RDWR);
    return { ino: r.entry.ino, fh: r.open.fh! };
  };
  const f = mk('f');
  const src = mk('src');
  const model = new Model();
  const srcModel = new Model();
  // Offsets cluster around page boundaries, where the bugs live.
  const offset = (max: number): number => (rnd() < 0.5 ? int(max) : Math.max(0, int(max / 4096) * 4096 + int(9) - 4));
  const length = (): number =>
    wide && rnd() < 0.2 ? 4096 * (1 + int(400)) + (rnd() < 0.5 ? 0 : int(4096)) : rnd() < 0.2 ? 4096 * (1 + int(4)) : 1 + int(rnd() < 0.5 ? 300 : 12_000);
  const randomBytes = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    if (n > 16_384) {
      // Big ones a word at a time (the model test stays fast); zero bytes in them are fine.
      const w = new Uint32Array(b.buffer, 0, n >>> 2);
      for (let i = 0; i < w.length; i++) w[i] = (rnd() * 2 ** 32) >>> 0 | 0x01010101;
      for (let i = w.length * 4; i < n; i++) b[i] = 1 + int(255);
      return b;
    }
    for (let i = 0; i < n; i++) b[i] = 1 + int(255);
    return b;
  };
  const embedded = (data: Uint8Array): Uint8Array => {
    const big = new Uint8Array(data.length + 2);
    big.set(data, 1);
    return big.subarray(1, data.length + 1);
  };
  {
    const data = randomBytes(30_000);
    fs.write(c, src.ino, src.fh, 5000, data.slice(), 0);
    srcModel.write(5000, data);
  }
  const MAX = wide ? 3 * 1024 * 1024 : 160 * 1024;

  for (let step = 0; step < steps; step++) {
    const op = int(7);
    const what = `seed ${seed} step ${step} op ${op}`;
    if (op <= 1) {
      const whole = wide && rnd() < 0.3; // one whole aligned 1 MiB chunk, as the kernel sends sequential writes
      const off = whole ? int(MAX / 2 ** 20) * 2 ** 20 : offset(MAX);
      const len = whole ? 2 ** 20 : length();
      // Sometimes an exact, whole buffer (the adoptable case), sometimes a view into a bigger one.
      const data = randomBytes(len);
      const arg = whole || rnd() < 0.5 ? data.slice() : embedded(data);
      let n: number;
      try {
        n = fs.write(c, f.ino, f.fh, off, arg, 0);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOSPC', what);
        n = 0;
      }
      if (n > 0) model.write(off, data.subarray(0, n));
    } else if (op === 2) {
      const n = rnd() < 0.2 ? 0 : offset(MAX);
      fs.setattr(c, f.ino, { size: n });
      model.truncate(n);
    } else if (op === 3) {
      const off = offset(MAX);
      const len = length();
      fs.fallocate(c, f.ino, f.fh, off, len, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
      model.zero(off, Math.min(off + len, Math.max(model.size, off)));
    } else if (op === 4) {
      const off = offset(MAX);
      const len = length();
      const keep = rnd() < 0.5;
      try {
        fs.fallocate(c, f.ino, f.fh, off, len, keep ? FALLOC_FL_KEEP_SIZE : 0);
        if (!keep && off + len > model.size) model.truncate(off + len);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOSPC', what);
      }
    } else if (op === 5) {
      const inOff = int(40_000);
      const outOff = offset(MAX);
      const len = length();
      let n: number;
      try {
        n = fs.copyFileRange(c, src.ino, src.fh, inOff, f.ino, f.fh, outOff, len, 0);
      } catch (e) {
        assert.equal((e as { code?: string }).code, 'ENOSPC', what);
        n = 0;
      }
      const expected = Math.max(0, Math.min(len, srcModel.size - inOff));
      if (sizeLimitPages === 0) assert.equal(n, expected, what);
      if (n > 0) model.write(outOff, srcModel.view().slice(inOff, inOff + n));
    } else {
      // Random reads.
      const off = offset(MAX);
      const len = length();
      const got = readBytes(fs, c, f.ino, f.fh, off, len);
      assert.deepEqual(got, model.view().slice(off, off + len), what);
    }

    const attr = fs.getattr(c, f.ino).attr;
    assert.equal(attr.size, model.size, what);
    if (step % (wide ? 25 : 8) === 0 || step === steps - 1) {
      const all = readBytes(fs, c, f.ino, f.fh, 0, model.size + 10);
      assert.ok(Buffer.compare(all, model.view()) === 0, `${what}: content differs`);
      // Allocation: at least the pages holding non-zero bytes.
      const v = model.view();
      let dataPages = 0;
      for (let p = 0; p * 4096 < v.length; p++) if (v.subarray(p * 4096, (p + 1) * 4096).some((b) => b !== 0)) dataPages++;
      assert.ok(attr.blocks / 8 >= dataPages, what);
      const srcBlocks = fs.getattr(c, src.ino).attr.blocks;
      assert.equal(fs.usage().blocks, (attr.blocks + srcBlocks) / 8, what);
      // SEEK_DATA / SEEK_HOLE never skip a non-zero byte.
      for (let k = 0; k < 4 && model.size > 0; k++) {
        const pos = int(model.size);
        let d: number;
        try {
          d = fs.lseek(c, f.ino, f.fh, pos, SEEK_DATA);
        } catch {
          d = model.size;
        }
        assert.ok(d >= pos && v.subarray(pos, d).every((b) => b === 0), `${what}: SEEK_DATA ${pos} -> ${d}`);
        const h = fs.lseek(c, f.ino, f.fh, pos, SEEK_HOLE);
        assert.ok(h >= pos && h <= model.size, what);
        if (h < model.size) {
          let next: number;
          try {
            next = fs.lseek(c, f.ino, f.fh, h, SEEK_DATA);
          } catch {
            next = model.size;
          }
          assert.ok(v.subarray(h, next).every((b) => b === 0), `${what}: hole ${h}..${next} not zero`);
        }
      }
    }
  }
}

describe('tmpfs file data against a flat-array model', () => {
  it('random write/truncate/punch/fallocate/copy sequences match (unlimited)', () => {
    for (const seed of [11, 22, 33, 44, 55]) run(seed, 500, 0);
  });

  it('random sequences match with a tight size limit (partial writes, ENOSPC)', () => {
    for (const seed of [7, 8, 9, 10]) run(seed, 500, 24);
  });

  it('the same over several 1 MiB chunks, with whole-chunk writes (dense chunks), unlimited and limited', () => {
    for (const seed of [101, 102]) run(seed, 300, 0, true);
    for (const seed of [103, 104]) run(seed, 300, 600, true);
  });
});
