import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_ID, type DirEntry } from '../../server/types.js';
import { Tmpfs } from './index.js';
import { ctx } from './test-context.js';
import { prng } from '../../testing/prng.js';

const c = ctx();

/** Take up to `n` entries after `offset`, as the session does with a reply buffer. */
function page(fs: Tmpfs, dir: number, offset: number, n: number, plus = false): DirEntry[] {
  const out: DirEntry[] = [];
  if (n <= 0) return out;
  for (const e of fs.readdir(c, dir, 0, offset, plus)) {
    out.push(e);
    if (out.length >= n) break;
  }
  return out;
}

describe('tmpfs readdir', () => {
  it('lists ., .., then entries in creation order with increasing cookies', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    for (const n of ['zeta', 'alpha', 'mid']) fs.mknod(c, d, n, 0o100644, 0);
    const all = page(fs, d, 0, 100);
    assert.deepEqual(all.map((e) => e.name), ['.', '..', 'zeta', 'alpha', 'mid']);
    assert.deepEqual(all.slice(0, 2).map((e) => e.offset), [1, 2]);
    for (let i = 1; i < all.length; i++) assert.ok(all[i]!.offset > all[i - 1]!.offset);
    // Resuming after any cookie continues right after it.
    for (let i = 0; i < all.length; i++) {
      assert.deepEqual(page(fs, d, all[i]!.offset, 100).map((e) => e.name), all.slice(i + 1).map((e) => e.name));
    }
    assert.equal(all[2]!.mode & 0o170000, 0o100000);
    assert.equal(all[0]!.mode & 0o170000, 0o040000);
  });

  it('an entry removed and re-added gets a new cookie; resuming after a removed cookie works', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    for (const n of ['a', 'b', 'c']) fs.mknod(c, d, n, 0o100644, 0);
    const first = page(fs, d, 0, 100);
    const cookieA = first.find((e) => e.name === 'a')!.offset;
    const cookieB = first.find((e) => e.name === 'b')!.offset;
    fs.unlink(c, d, 'a');
    fs.mknod(c, d, 'a', 0o100644, 0);
    const again = page(fs, d, 0, 100);
    assert.deepEqual(again.map((e) => e.name), ['.', '..', 'b', 'c', 'a']);
    assert.ok(again.find((e) => e.name === 'a')!.offset > cookieA);
    fs.unlink(c, d, 'b');
    assert.deepEqual(page(fs, d, cookieB, 100).map((e) => e.name), ['c', 'a']);
  });

  it('readdirplus fills entries (and takes references) except for . and ..', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    const f = fs.mknod(c, d, 'f', 0o100600, 0).ino;
    fs.forget(f);
    const list = page(fs, d, 0, 100, true);
    assert.equal(list[0]!.entry, undefined);
    assert.equal(list[1]!.entry, undefined);
    assert.equal(list[2]!.entry!.ino, f);
    assert.equal(list[2]!.entry!.attr.mode, 0o100600);
    assert.equal(list[2]!.entry!.entryTimeout, undefined);
    // The reference keeps an unlinked inode alive until forgotten.
    fs.unlink(c, d, 'f');
    assert.equal(fs.getattr(c, f).attr.nlink, 0);
    fs.forget(f);
    assert.throws(() => fs.getattr(c, f), { code: 'ENOENT' });
  });

  it('readdirplus leaves out the entry of an inode the kernel already holds', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    const held = fs.mknod(c, d, 'held', 0o100644, 0).ino; // the kernel got it from mknod
    const gone = fs.mknod(c, d, 'gone', 0o100644, 0).ino;
    fs.forget(gone);
    const first = page(fs, d, 0, 100, true);
    assert.deepEqual(first.map((e) => [e.name, e.entry?.ino]), [['.', undefined], ['..', undefined], ['held', undefined], ['gone', gone]]);
    assert.equal(first[2]!.ino, held, 'the name and inode number are still listed');
    // Sent once, it is held now too; forgotten, it comes with its entry again.
    assert.equal(page(fs, d, 0, 100, true)[3]!.entry, undefined);
    fs.forget(held);
    assert.equal(page(fs, d, 0, 100, true)[2]!.entry!.ino, held);
  });

  it('returns every entry present throughout exactly once while entries come and go', () => {
    for (const seed of [1, 2, 3, 4]) {
      const rnd = prng(seed);
      const fs = new Tmpfs();
      const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
      let next = 0;
      const live = new Set<string>();
      for (; next < 600; next++) {
        fs.mknod(c, d, `e${next}`, 0o100644, 0);
        live.add(`e${next}`);
      }
      const atStart = new Set(live);
      const removed = new Set<string>();
      const seen = new Map<string, number>();
      let offset = 0;
      let lastOffset = 0;
      for (;;) {
        const chunk = page(fs, d, offset, 1 + Math.floor(rnd() * 40));
        if (chunk.length === 0) break;
        for (const e of chunk) {
          assert.ok(e.offset > lastOffset, 'offsets increase');
          lastOffset = e.offset;
          seen.set(e.name, (seen.get(e.name) ?? 0) + 1);
        }
        offset = chunk[chunk.length - 1]!.offset;
        // Between two calls: remove some, add some, and re-add removed names.
        for (let k = Math.floor(rnd() * 30); k > 0; k--) {
          const names = [...live];
          const victim = names[Math.floor(rnd() * names.length)];
          if (victim === undefined) break;
          fs.unlink(c, d, victim);
          live.delete(victim);
          removed.add(victim);
        }
        for (let k = Math.floor(rnd() * 30); k > 0; k--) {
          const name = rnd() < 0.3 && removed.size ? [...removed][Math.floor(rnd() * removed.size)]! : `e${next++}`;
          if (live.has(name)) continue;
          fs.mknod(c, d, name, 0o100644, 0);
          live.add(name);
        }
      }
      // A name removed and re-added is a new entry (new cookie) and may show up again; others exactly once.
      for (const [name, n] of seen) if (!removed.has(name)) assert.equal(n, 1, `${name} seen ${n} times`);
      for (const name of atStart) {
        if (!removed.has(name)) assert.equal(seen.get(name), 1, `${name} (never removed) missing`);
      }
    }
  });

  it('one iterator keeps its place when removals compact the directory under it', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'd', 0o755).ino;
    for (let i = 0; i < 200; i++) fs.mknod(c, d, `n${i}`, 0o100644, 0);
    const it = fs.readdir(c, d, 0, 0, false)[Symbol.iterator]();
    const got: string[] = [];
    for (let i = 0; i < 152; i++) got.push(it.next().value!.name);
    assert.equal(got[151], 'n149');
    // Remove most of what was already listed: tombstones outnumber entries, the order is compacted.
    for (let i = 0; i < 110; i++) fs.unlink(c, d, `n${i}`);
    fs.mknod(c, d, 'late', 0o100644, 0);
    for (let r = it.next(); !r.done; r = it.next()) got.push(r.value.name);
    const expected = ['.', '..', ...Array.from({ length: 200 }, (_, i) => `n${i}`), 'late'];
    assert.deepEqual(got, expected);
  });

  it('lists 100,000 entries in small pieces in linear time', () => {
    const fs = new Tmpfs();
    const d = fs.mkdir(c, ROOT_ID, 'big', 0o755).ino;
    const N = 100_000;
    for (let i = 0; i < N; i++) fs.mknod(c, d, `file-${i}`, 0o100644, 0);
    // Delete a third, so compaction and tombstones are exercised.
    for (let i = 0; i < N; i += 3) fs.unlink(c, d, `file-${i}`);
    const start = performance.now();
    let offset = 0;
    let count = 0;
    for (;;) {
      const chunk = page(fs, d, offset, 50);
      if (chunk.length === 0) break;
      count += chunk.length;
      offset = chunk[chunk.length - 1]!.offset;
    }
    const ms = performance.now() - start;
    assert.equal(count, N - Math.ceil(N / 3) + 2);
    // Quadratic behaviour would take many seconds here.
    assert.ok(ms < 1500, `took ${ms} ms`);
  });
});
