/**
 * The smallest useful file system: a read-only root holding one file,
 * `hello`, whose content is a greeting. Read it to learn the FileSystem API.
 */
import { fsError } from '../../errors.js';
import { O_ACCMODE, S_IFDIR, S_IFREG } from '../../linux.js';
import type { FileSystem } from '../../server/ops.js';
import { ROOT_ID, type Attr, type AttrReply, type DirEntry, type Entry, type OpenReply, type RequestContext, type Timespec } from '../../server/types.js';


export class HelloFs implements FileSystem {
  static readonly FILE_ID = 2;
  readonly fileName: string;
  private readonly content: Buffer;
  private readonly born: Timespec;

  constructor(options: { fileName?: string; content?: string } = {}) {
    this.fileName = options.fileName ?? 'hello';
    this.content = Buffer.from(options.content ?? 'Hello, world!\n');
    const now = Date.now();
    this.born = { sec: Math.floor(now / 1000), nsec: (now % 1000) * 1e6 };
  }

  private attr(ino: number): Attr {
    const dir = ino === ROOT_ID;
    return {
      ino,
      mode: dir ? S_IFDIR | 0o555 : S_IFREG | 0o444,
      nlink: dir ? 2 : 1,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      rdev: 0,
      size: dir ? 0 : this.content.byteLength,
      blocks: dir ? 0 : Math.ceil(this.content.byteLength / 512),
      blksize: 4096,
      atime: this.born,
      mtime: this.born,
      ctime: this.born,
    };
  }

  lookup(_ctx: RequestContext, parent: number, name: string): Entry {
    if (parent !== ROOT_ID || name !== this.fileName) throw fsError('ENOENT');
    return { ino: HelloFs.FILE_ID, attr: this.attr(HelloFs.FILE_ID) };
  }

  getattr(_ctx: RequestContext, ino: number): AttrReply {
    if (ino !== ROOT_ID && ino !== HelloFs.FILE_ID) throw fsError('ENOENT');
    return { attr: this.attr(ino) };
  }

  readdir(_ctx: RequestContext, ino: number, _fh: number, offset: number): DirEntry[] {
    if (ino !== ROOT_ID) throw fsError('ENOTDIR');
    const all: DirEntry[] = [
      { name: '.', ino: ROOT_ID, mode: S_IFDIR, offset: 1 },
      { name: '..', ino: ROOT_ID, mode: S_IFDIR, offset: 2 },
      { name: this.fileName, ino: HelloFs.FILE_ID, mode: S_IFREG, offset: 3, entry: this.lookup(_ctx, ROOT_ID, this.fileName) },
    ];
    return all.slice(offset);
  }

  open(_ctx: RequestContext, ino: number, flags: number): OpenReply {
    if (ino !== HelloFs.FILE_ID) throw fsError('EISDIR');
    if ((flags & O_ACCMODE) !== 0) throw fsError('EACCES');
    return { keepCache: true };
  }

  read(_ctx: RequestContext, _ino: number, _fh: number, offset: number, size: number): Uint8Array {
    return this.content.subarray(offset, offset + size);
  }
}
