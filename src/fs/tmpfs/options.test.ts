import assert from 'node:assert/strict';
import { totalmem } from 'node:os';
import { describe, it } from 'node:test';
import { ROOT_ID } from '../../server/types.js';
import { Tmpfs, parseTmpfsOptions } from './index.js';
import { ctx } from './test-context.js';

describe('tmpfs options', () => {
  it('parses sizes as the kernel (memparse: suffixes, octal, hex, percent)', () => {
    assert.deepEqual(parseTmpfsOptions('size=1m'), { size: 1024 * 1024 });
    assert.equal(parseTmpfsOptions('size=10k').size, 10 * 1024);
    assert.equal(parseTmpfsOptions('size=2G').size, 2 * 1024 ** 3);
    assert.equal(parseTmpfsOptions('size=1t').size, 1024 ** 4);
    assert.equal(parseTmpfsOptions('size=5000').size, 5000);
    // Observed on Linux: size=010k is 8k, size=0x10k is 16k.
    assert.equal(parseTmpfsOptions('size=010k').size, 8 * 1024);
    assert.equal(parseTmpfsOptions('size=0x10k').size, 16 * 1024);
    assert.equal(parseTmpfsOptions('size=10%').size, Math.floor((totalmem() * 10) / 100));
    assert.equal(parseTmpfsOptions('nr_blocks=3').size, 3 * 4096);
    assert.equal(parseTmpfsOptions('size=0').size, 0);
    for (const bad of ['size=1.5g', 'size=1kb', 'size=', 'size=k', 'size=08', 'nr_inodes=1%', 'mode=9', 'uid=x', 'bogus', 'size']) {
      assert.throws(() => parseTmpfsOptions(bad), { code: 'EINVAL' }, bad);
    }
  });

  it('parses nr_inodes, mode, uid, gid and the extras', () => {
    assert.deepEqual(parseTmpfsOptions('nr_inodes=1k,mode=0750,uid=12,gid=34,check_permissions'), {
      nrInodes: 1024, mode: 0o750, uid: 12, gid: 34, checkPermissions: true,
    });
    assert.equal(parseTmpfsOptions('mode=1777').mode, 0o1777);
    assert.equal(parseTmpfsOptions('mode=71777').mode, 0o1777);
    assert.deepEqual(parseTmpfsOptions('huge=never,inode64,noswap,,'), {});
    assert.deepEqual(parseTmpfsOptions(''), {});
  });

  it('applies them to the root directory', () => {
    const fs = new Tmpfs(parseTmpfsOptions('size=0,nr_inodes=0,mode=750,uid=12,gid=34'));
    const a = fs.getattr(ctx(), ROOT_ID).attr;
    assert.equal(a.mode, 0o40750);
    assert.equal(a.uid, 12);
    assert.equal(a.gid, 34);
    const d = new Tmpfs().getattr(ctx(), ROOT_ID).attr;
    assert.equal(d.mode, 0o41777);
    assert.equal(d.uid, process.getuid!());
    assert.equal(d.nlink, 2);
    assert.equal(d.size, 40);
  });
});
