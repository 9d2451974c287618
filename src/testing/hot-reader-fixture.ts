/**
 * Child process for the hot reader test: serves hello in this process with
 * reader 'hot' and has `cat` read it from a grandchild, three times. After
 * the last reply of each round the JS thread sits in a blocking read(2); only
 * the waker's request (or the kernel's next one, if any) frees it. Prints,
 * for each round, the ms from starting cat to a 5 ms timer after it, as JSON.
 *
 *   node hot-reader-fixture.js <mountpoint>
 */
import { mount } from '../server/mount.js';
import { HelloFs } from '../fs/hello/index.js';
import { run } from './mounts.js';

const dir = process.argv[2]!;
// Long timeouts: no FORGET trails the last reply, nothing but the waker can end the read.
const mounted = await mount(new HelloFs(), dir, { reader: 'hot', entryTimeout: 60, attrTimeout: 60 });
const late: number[] = [];
try {
  for (let i = 0; i < 3; i++) {
    // The child's exit and the timer both need the event loop, which the
    // last reply left blocked in read(2).
    const asked = performance.now();
    const cat = await run('cat', [`${dir}/hello`]);
    if (cat.stdout !== 'Hello, world!\n') throw new Error(`cat gave ${JSON.stringify(cat)}`);
    late.push(await new Promise<number>((resolve) => setTimeout(() => resolve(performance.now() - asked), 5)));
  }
} finally {
  await mounted.unmount();
}
process.stdout.write(JSON.stringify({ late }) + '\n');
