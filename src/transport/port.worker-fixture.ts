/**
 * Test fixture, run as a worker thread by port.test.ts: wraps the MessagePort
 * passed in `workerData.port` in a PortChannel and echoes every frame back.
 * When the main thread closes its end, the channel closes, nothing is left
 * to keep this thread alive, and it exits with code 0.
 */
import { workerData, type MessagePort } from 'node:worker_threads';
import { PortChannel } from './port.js';

const { port } = workerData as { port: MessagePort };
const channel = new PortChannel(port);
channel.start({
  frame(frame) {
    channel.send([frame]);
  },
  closed(error) {
    if (error) {
      console.error('port.worker-fixture: channel failed:', error);
      process.exitCode = 1;
    }
  },
});
