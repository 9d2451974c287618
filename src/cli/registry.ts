/** The file systems the CLI can mount, by name. */
import { HelloFs } from '../fs/hello/index.js';
import type { FileSystem } from '../server/ops.js';
import type { PuffsMountOptions } from '../server/mount.js';

export interface FsFactory {
  description: string;
  /** Help lines for the file system's own -o options. */
  options?: string;
  /** Build the file system from its own options; also returns mount defaults it recommends. */
  create(options: string[]): { fs: FileSystem; defaults: PuffsMountOptions };
}

export const fileSystems: Record<string, FsFactory> = {
  hello: {
    description: 'one read-only file, hello, with a greeting',
    create(options) {
      if (options.length) throw new Error(`hello takes no options (got ${options.join(',')})`);
      return { fs: new HelloFs(), defaults: {} };
    },
  },
};
