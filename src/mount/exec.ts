/**
 * Running mount(8) and umount(8) asynchronously. A FUSE server must never use
 * spawnSync here: umount of a live mount may send requests that the server's
 * own event loop has to answer.
 */
import { spawn } from 'node:child_process';

/** What a finished command left behind. */
export interface CommandResult {
  /** Exit code, or null when the command was killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** An open /dev/fuse descriptor to hand to the command as its fd 3. */
  readonly fuseFd?: number;
  /** Kill the command (SIGKILL) after this many milliseconds. */
  readonly timeoutMs?: number;
}

/** Directories where mount(8) and umount(8) live, appended to PATH in case a caller trimmed it. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Run `command` with `args`, collecting its output. Rejects only when the
 * command cannot be started (e.g. ENOENT); a non-zero exit resolves.
 */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
    if (options.fuseFd !== undefined) stdio.push(options.fuseFd);
    const env = {
      ...process.env,
      // English messages: callers map them to errno codes.
      LC_ALL: 'C',
      PATH: process.env.PATH ? `${process.env.PATH}:${SYSTEM_PATH}` : SYSTEM_PATH,
    };
    const child = spawn(command, args, { stdio, env, timeout: options.timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr }));
  });
}
