/**
 * A tiny C helper for the system calls Node has no API for: mknod (FIFOs,
 * sockets, device nodes), renameat2 flags, extended attributes, fallocate,
 * SEEK_DATA/SEEK_HOLE, mmap'd reads and writes, and posix_fadvise. It is
 * compiled on first use with `cc` (the source is below, so nothing but the
 * compiler is needed) and cached in the temp directory by source hash.
 *
 * Protocol: `helper CMD ARGS...`; exit 0 with the answer on stdout, or exit 3
 * with `E <errno>` on stdout when the system call failed. Any other exit is a
 * helper failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants as fsc, existsSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

const SOURCE = String.raw`
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <grp.h>
#include <linux/falloc.h>
#include <linux/fs.h>

static int fail(void) { printf("E %d\n", errno); return 3; }
static int usage(void) { fprintf(stderr, "puffs-difftest-helper: bad arguments\n"); return 2; }

static void hex_out(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
}
static size_t hex_in(const char *s, unsigned char *out) {
  size_t n = strlen(s) / 2;
  for (size_t i = 0; i < n; i++) { unsigned v; sscanf(s + 2 * i, "%2x", &v); out[i] = (unsigned char)v; }
  return n;
}
static long long num(const char *s) { return strtoll(s, NULL, 0); }

/* Print every name of path's xattrs with its value: "N name hexvalue" lines, or "E errno". */
static void dump_xattrs(const char *path) {
  static char names[65536];
  static unsigned char value[65536];
  ssize_t n = llistxattr(path, names, sizeof names);
  if (n < 0) { printf("E %d\n", errno); return; }
  for (char *p = names; p < names + n; p += strlen(p) + 1) {
    ssize_t v = lgetxattr(path, p, value, sizeof value);
    if (v < 0) { printf("X %s %d\n", p, errno); continue; }
    printf("N %s ", p); hex_out(value, (size_t)v); printf("\n");
  }
}

static int map_io(const char *path, long long off, long long len, int write_) {
  int fd = open(path, write_ ? O_RDWR : O_RDONLY);
  if (fd < 0) return fail();
  long page = sysconf(_SC_PAGESIZE);
  long long start = off - off % page;
  size_t maplen = (size_t)(off + len - start);
  if (len == 0) { close(fd); return 0; }
  unsigned char *m = mmap(NULL, maplen, write_ ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, start);
  if (m == MAP_FAILED) return fail();
  if (write_) {
    unsigned char *buf = malloc((size_t)len);
    size_t got = 0;
    while (got < (size_t)len) { ssize_t r = read(0, buf + got, (size_t)len - got); if (r <= 0) return usage(); got += (size_t)r; }
    memcpy(m + (off - start), buf, (size_t)len);
    if (msync(m, maplen, MS_SYNC) < 0) return fail();
  } else {
    size_t done = 0;
    while (done < (size_t)len) { ssize_t w = write(1, m + (off - start) + done, (size_t)len - done); if (w <= 0) return usage(); done += (size_t)w; }
  }
  munmap(m, maplen);
  close(fd);
  return 0;
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *cmd = argv[1];
  if (!strcmp(cmd, "mknod") && argc == 7) {
    mode_t type = argv[3][0] == 'f' ? S_IFIFO : argv[3][0] == 'c' ? S_IFCHR : argv[3][0] == 'b' ? S_IFBLK : S_IFSOCK;
    if (mknod(argv[2], type | (mode_t)num(argv[4]), makedev(num(argv[5]), num(argv[6]))) < 0) return fail();
    return 0;
  }
  if (!strcmp(cmd, "truncate") && argc == 4) {
    if (truncate(argv[2], num(argv[3])) < 0) return fail();
    return 0;
  }
  if (!strcmp(cmd, "rename2") && argc == 5) {
    if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], (unsigned)num(argv[4])) < 0) return fail();
    return 0;
  }
  if (!strcmp(cmd, "setx") && argc == 6) {
    static unsigned char v[65536];
    size_t n = hex_in(argv[4], v);
    if (lsetxattr(argv[2], argv[3], v, n, (int)num(argv[5])) < 0) return fail();
    return 0;
  }
  if (!strcmp(cmd, "getx") && argc == 4) {
    static unsigned char v[65536];
    ssize_t n = lgetxattr(argv[2], argv[3], v, sizeof v);
    if (n < 0) return fail();
    hex_out(v, (size_t)n); printf("\n");
    return 0;
  }
  if (!strcmp(cmd, "listx") && argc == 3) {
    static char names[65536];
    ssize_t n = llistxattr(argv[2], names, sizeof names);
    if (n < 0) return fail();
    for (char *p = names; p < names + n; p += strlen(p) + 1) printf("%s\n", p);
    return 0;
  }
  if (!strcmp(cmd, "rmx") && argc == 4) {
    if (lremovexattr(argv[2], argv[3]) < 0) return fail();
    return 0;
  }
  if (!strcmp(cmd, "dumpx")) {
    for (int i = 2; i < argc; i++) { printf("P %d\n", i - 2); dump_xattrs(argv[i]); }
    return 0;
  }
  if (!strcmp(cmd, "falloc") && argc == 6) {
    int fd = open(argv[2], O_WRONLY | O_NONBLOCK);
    if (fd < 0) return fail();
    int r = fallocate(fd, (int)num(argv[3]), num(argv[4]), num(argv[5]));
    int e = errno;
    close(fd);
    if (r < 0) { errno = e; return fail(); }
    return 0;
  }
  if (!strcmp(cmd, "seek") && argc == 5) {
    int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
    if (fd < 0) return fail();
    off_t r = lseek(fd, num(argv[4]), argv[3][0] == 'd' ? SEEK_DATA : SEEK_HOLE);
    int e = errno;
    close(fd);
    if (r < 0) { errno = e; return fail(); }
    printf("%lld\n", (long long)r);
    return 0;
  }
  if (!strcmp(cmd, "mapread") && argc == 5) return map_io(argv[2], num(argv[3]), num(argv[4]), 0);
  if (!strcmp(cmd, "mapwrite") && argc == 5) return map_io(argv[2], num(argv[3]), num(argv[4]), 1);
  if (!strcmp(cmd, "fadvise") && argc == 3) {
    int fd = open(argv[2], O_RDONLY | O_NONBLOCK);
    if (fd < 0) return fail();
    int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    if (e) { errno = e; return fail(); }
    return 0;
  }
  return usage();
}

/*
 * serve REQ_FIFO REPLY_FIFO: requests are lines "uid<TAB>gid<TAB>cmd<TAB>arg...",
 * each answered by "status length\n" and length bytes of output; a request
 * with a uid or gid other than 0 runs with that effective uid and gid.
 * Ends at the end of the requests (when the client goes away).
 */
static int serve(const char *req, const char *rep) {
  FILE *in = fopen(req, "r");
  if (!in) return fail();
  int out = open(rep, O_WRONLY);
  if (out < 0) return fail();
  setgroups(0, NULL);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  FILE *real_stdout = stdout;
  while ((len = getline(&line, &cap, in)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *argv[4096];
    int argc = 0;
    char *rest = line;
    char *uid_s = strsep(&rest, "\t");
    char *gid_s = rest ? strsep(&rest, "\t") : NULL;
    argv[argc++] = "helper";
    while (rest && argc < 4095) argv[argc++] = strsep(&rest, "\t"); /* keeps empty fields */
    argv[argc] = NULL;
    uid_t uid = uid_s ? (uid_t)num(uid_s) : 0;
    gid_t gid = gid_s ? (gid_t)num(gid_s) : 0;
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&buf, &size);
    stdout = mem;
    int status;
    if (gid && setegid(gid) < 0) status = fail();
    else if (uid && seteuid(uid) < 0) status = fail();
    else status = dispatch(argc, argv);
    if (uid) seteuid(0);
    if (gid) setegid(0);
    fflush(mem);
    stdout = real_stdout;
    char head[64];
    int h = snprintf(head, sizeof head, "%d %zu\n", status, size);
    if (write(out, head, (size_t)h) != h) return 1;
    for (size_t done = 0; done < size; ) { ssize_t w = write(out, buf + done, size - done); if (w <= 0) return 1; done += (size_t)w; }
    fclose(mem);
    free(buf);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "serve")) return serve(argv[2], argv[3]);
  return dispatch(argc, argv);
}
`;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const FALLOC_FL_KEEP_SIZE = 1;
export const FALLOC_FL_PUNCH_HOLE = 2;

/** errno number to its code ('ENOENT'). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);
export function errnoName(n: number): string {
  // EOPNOTSUPP and ENOTSUP are the same number on Linux; call it ENOTSUP like Node does.
  if (n === constants.errno.ENOTSUP) return 'ENOTSUP';
  if (n === constants.errno.EWOULDBLOCK) return 'EAGAIN';
  return ERRNO_NAMES.get(n) ?? `E#${n}`;
}

let cached: { path: string | null; why: string } | undefined;

/**
 * Path of the compiled helper, compiling it if needed; null (with the
 * reason) when there is no C compiler or it fails.
 */
export function ensureHelper(): { path: string | null; why: string } {
  if (cached) return cached;
  const hash = createHash('sha256').update(SOURCE).digest('hex').slice(0, 12);
  const path = join(tmpdir(), `puffs-difftest-helper-${hash}`);
  if (existsSync(path)) return (cached = { path, why: 'cached' });
  const cc = process.env.CC || 'cc';
  const tmp = `${path}.${process.pid}.tmp`;
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', tmp, '-x', 'c', '-'], { input: SOURCE, encoding: 'utf8', timeout: 60_000 });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const why = r.error ? `${cc} not usable (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})` : `${cc} failed: ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}`;
    return (cached = { path: null, why });
  }
  renameSync(tmp, path); // atomic: concurrent compiles are harmless
  return (cached = { path, why: 'compiled' });
}

export interface HelperResult {
  /** The errno code, when the system call failed. */
  err?: string;
  stdout: Buffer;
}

/** Run the helper synchronously (from a child process that may block on the mount). */
export function callHelper(helper: string, args: readonly string[], options: { as?: [number, number]; input?: Buffer; timeoutMs?: number } = {}): HelperResult {
  const r = spawnSync(helper, args, {
    input: options.input,
    uid: options.as?.[0],
    gid: options.as?.[1],
    timeout: options.timeoutMs ?? 30_000,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`helper ${args[0]} failed to run: ${r.error.message}`);
  if (r.status === 3) {
    const m = /^E (\d+)/.exec(r.stdout.toString('latin1'));
    return { err: errnoName(Number(m?.[1] ?? -1)), stdout: r.stdout };
  }
  if (r.status !== 0) throw new Error(`helper ${args.join(' ').slice(0, 200)} exited ${r.status ?? r.signal}: ${r.stderr.toString()}`);
  return { stdout: r.stdout };
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The helper as a coprocess, called synchronously over two FIFOs: one
 * spawn for a whole run instead of one per call (a spawn costs ~3 ms).
 * Only for a process that may block (the executor).
 */
export class HelperServer {
  private pending = Buffer.alloc(0);

  private constructor(
    private readonly reqFd: number,
    private readonly repFd: number,
    private readonly child: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  /** Start one; null if that fails (callers then spawn per call). */
  static start(helper: string): HelperServer | null {
    const dir = mkdtempSync(join(tmpdir(), 'puffs-difftest-fifo-'));
    try {
      const req = join(dir, 'req');
      const rep = join(dir, 'rep');
      for (const f of [req, rep]) if (callHelper(helper, ['mknod', f, 'f', '384', '0', '0']).err) return null;
      const child = spawn(helper, ['serve', req, rep], { stdio: 'ignore' });
      child.on('error', () => undefined);
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      child.unref();
      if (!child.pid) return null;
      // Non-blocking until the helper has the request FIFO open for reading, so a helper that never starts cannot hang us.
      let reqFd = -1;
      const deadline = Date.now() + 5000;
      while (reqFd < 0) {
        try {
          reqFd = openSync(req, fsc.O_WRONLY | fsc.O_NONBLOCK);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) {
            process.kill(child.pid, 'SIGKILL');
            return null;
          }
          sleepSync(1);
        }
      }
      const repFd = openSync(rep, fsc.O_RDONLY); // the helper opens its end right after the request FIFO
      return new HelperServer(reqFd, repFd, child, exited);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  call(args: readonly string[], as?: [number, number]): HelperResult {
    for (const a of args) if (/[\t\n]/.test(a)) throw new Error(`helper argument with a tab or newline: ${JSON.stringify(a)}`);
    const line = Buffer.from(`${as?.[0] ?? 0}\t${as?.[1] ?? 0}\t${args.join('\t')}\n`);
    for (let done = 0; done < line.length; ) {
      try {
        done += writeSync(this.reqFd, line, done, line.length - done);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
        sleepSync(1);
      }
    }
    let nl: number;
    while ((nl = this.pending.indexOf(10)) < 0) this.fill();
    const [status, size] = this.pending.subarray(0, nl).toString('latin1').split(' ').map(Number) as [number, number];
    this.pending = this.pending.subarray(nl + 1);
    while (this.pending.length < size) this.fill();
    const stdout = Buffer.from(this.pending.subarray(0, size));
    this.pending = this.pending.subarray(size);
    if (status === 3) {
      const m = /^E (\d+)/.exec(stdout.toString('latin1'));
      return { err: errnoName(Number(m?.[1] ?? -1)), stdout };
    }
    if (status !== 0) throw new Error(`helper ${args.join(' ').slice(0, 200)} failed (${status})`);
    return { stdout };
  }

  private fill(): void {
    const buf = Buffer.allocUnsafe(1 << 16);
    const n = readSync(this.repFd, buf, 0, buf.length, null);
    if (n === 0) throw new Error('helper coprocess went away');
    this.pending = Buffer.concat([this.pending, buf.subarray(0, n)]);
  }

  /** Close our ends and wait for the helper to exit (so that it is reaped, not left a zombie). */
  async shutdown(): Promise<void> {
    this.close();
    const t = setTimeout(() => this.child.pid && this.child.exitCode === null && process.kill(this.child.pid, 'SIGKILL'), 2000);
    this.child.ref();
    await this.exited;
    clearTimeout(t);
  }

  /** Close our ends: the helper sees the end of its requests and exits. */
  close(): void {
    for (const fd of [this.reqFd, this.repFd]) {
      try {
        closeSync(fd);
      } catch {
        // closed
      }
    }
  }
}
