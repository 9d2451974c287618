/*
 * pbench: the load generator of `npm run bench`. Each subcommand does one
 * workload with plain system calls, times itself with CLOCK_MONOTONIC and
 * prints one JSON line: {"sec":S,"ops":N,"bytes":B}. Written in C so the
 * load, not the loop around it, is what is measured.
 *
 *   pbench floor    FILE SECONDS PROCS  fstat(2) on an open file in a loop, PROCS processes at once
 *   pbench statloop FILE SECONDS PROCS  stat(2) of one unchanged file by its path in a loop
 *   pbench create   DIR N               create N empty files DIR/f000000.. (open O_CREAT|O_EXCL, close)
 *   pbench stat     DIR N               stat(2) each of them
 *   pbench readdir  DIR                 list DIR (opendir/readdir/closedir)
 *   pbench unlink   DIR N               unlink each of them
 *   pbench mktree   DIR FILES SIZE      a tree DIR/aNN/bNN/fNN of FILES files of SIZE bytes, 20 per leaf directory
 *   pbench walk     DIR                 recursive readdir + lstat of every entry
 *   pbench readtree DIR                 recursive readdir + open/read/close of every file
 *   pbench rmtree   DIR                 remove the tree (DIR itself too)
 *   pbench seqwrite FILE BYTES BS       write BYTES in BS-byte writes to a new file, then close
 *   pbench seqread  FILE BS             read FILE to its end in BS-byte reads, then close
 *   pbench append   FILE BYTES BS       as seqwrite, but open O_APPEND and report each quarter's time
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *path) {
  fprintf(stderr, "pbench: %s %s: %s\n", what, path ? path : "", strerror(errno));
  exit(1);
}

static void report(double sec, long long ops, long long bytes) {
  printf("{\"sec\":%.9f,\"ops\":%lld,\"bytes\":%lld}\n", sec, ops, bytes);
}

static long long num(const char *s) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (*end == 'k' || *end == 'K') v <<= 10, end++;
  else if (*end == 'm' || *end == 'M') v <<= 20, end++;
  else if (*end == 'g' || *end == 'G') v <<= 30, end++;
  if (*end) {
    fprintf(stderr, "pbench: bad number %s\n", s);
    exit(2);
  }
  return v;
}

/* ---- per-request floor ---- */

static int floor_cmd(const char *file, double seconds, int procs, int bypath) {
  int go[2], res[2];
  if (pipe(go) || pipe(res)) die("pipe", NULL);
  for (int p = 0; p < procs; p++) {
    pid_t pid = fork();
    if (pid < 0) die("fork", NULL);
    if (pid == 0) {
      close(go[1]);
      int fd = open(file, O_RDONLY);
      if (fd < 0) die("open", file);
      struct stat st;
      if (fstat(fd, &st)) die("fstat", file);
      char c;
      if (read(go[0], &c, 1) != 1) _exit(1);
      double end = now() + seconds;
      long long n = 0;
      for (;;) {
        if (bypath) {
          for (int i = 0; i < 256; i++)
            if (stat(file, &st)) die("stat", file);
        } else {
          for (int i = 0; i < 256; i++)
            if (fstat(fd, &st)) die("fstat", file);
        }
        n += 256;
        if (now() >= end) break;
      }
      if (write(res[1], &n, sizeof n) != sizeof n) _exit(1);
      _exit(0);
    }
  }
  close(go[0]);
  close(res[1]);
  usleep(20000); /* let every child open and reach the barrier */
  double t0 = now();
  char gos[64];
  memset(gos, 'g', sizeof gos);
  if (write(go[1], gos, (size_t)procs) != procs) die("write", "go");
  long long total = 0, n;
  int got = 0;
  while (read(res[0], &n, sizeof n) == sizeof n) total += n, got++;
  double sec = now() - t0;
  int status, bad = 0;
  while (wait(&status) > 0) bad |= !WIFEXITED(status) || WEXITSTATUS(status);
  if (bad || got != procs) {
    fprintf(stderr, "pbench: a floor process failed\n");
    return 1;
  }
  report(sec, total, 0);
  return 0;
}

/* ---- one directory of many files ---- */

static void fname(char *buf, size_t size, const char *dir, long long i) {
  snprintf(buf, size, "%s/f%06lld", dir, i);
}

static int create_cmd(const char *dir, long long n) {
  char p[4096];
  double t0 = now();
  for (long long i = 0; i < n; i++) {
    fname(p, sizeof p, dir, i);
    int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) die("create", p);
    close(fd);
  }
  report(now() - t0, n, 0);
  return 0;
}

static int stat_cmd(const char *dir, long long n) {
  char p[4096];
  struct stat st;
  double t0 = now();
  for (long long i = 0; i < n; i++) {
    fname(p, sizeof p, dir, i);
    if (stat(p, &st)) die("stat", p);
  }
  report(now() - t0, n, 0);
  return 0;
}

static int readdir_cmd(const char *dir) {
  double t0 = now();
  DIR *d = opendir(dir);
  if (!d) die("opendir", dir);
  long long n = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) n++;
  if (errno) die("readdir", dir);
  closedir(d);
  report(now() - t0, n, 0);
  return 0;
}

static int unlink_cmd(const char *dir, long long n) {
  char p[4096];
  double t0 = now();
  for (long long i = 0; i < n; i++) {
    fname(p, sizeof p, dir, i);
    if (unlink(p)) die("unlink", p);
  }
  report(now() - t0, n, 0);
  return 0;
}

/* ---- a tree of small files ---- */

static long long tree_files, tree_made, tree_ops;
static char *tree_buf;
static long long tree_size;

/* The tree: DIR/aNN/bNN/fNN, 20 files in each leaf directory, 10 leaves per aNN, as many aNN as needed. */
static void mktree_all(const char *dir) {
  char p[4096];
  for (int a = 0; tree_made < tree_files; a++) {
    snprintf(p, sizeof p, "%s/a%02d", dir, a);
    if (mkdir(p, 0755)) die("mkdir", p);
    tree_ops++;
    for (int b = 0; b < 10 && tree_made < tree_files; b++) {
      snprintf(p, sizeof p, "%s/a%02d/b%02d", dir, a, b);
      if (mkdir(p, 0755)) die("mkdir", p);
      tree_ops++;
      for (int f = 0; f < 20 && tree_made < tree_files; f++) {
        snprintf(p, sizeof p, "%s/a%02d/b%02d/f%02d", dir, a, b, f);
        int fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) die("create", p);
        if (tree_size && write(fd, tree_buf, (size_t)tree_size) != tree_size) die("write", p);
        if (close(fd)) die("close", p);
        tree_made++, tree_ops++;
      }
    }
  }
}

static int mktree_cmd(const char *dir, long long files, long long size) {
  tree_files = files;
  tree_size = size;
  tree_buf = malloc((size_t)size + 1);
  for (long long i = 0; i < size; i++) tree_buf[i] = (char)('a' + i % 26);
  double t0 = now();
  if (mkdir(dir, 0755) && errno != EEXIST) die("mkdir", dir);
  mktree_all(dir);
  report(now() - t0, tree_ops, tree_made * size);
  return 0;
}

enum { WALK_STAT, WALK_READ, WALK_RM };
static char rbuf[1 << 16];

static void walk_rec(int dfd, const char *path, int mode) {
  DIR *d = fdopendir(dfd);
  if (!d) die("fdopendir", path);
  struct dirent *e;
  errno = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    int isdir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) die("fstatat", e->d_name);
      isdir = S_ISDIR(st.st_mode);
    }
    if (mode == WALK_STAT) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) die("fstatat", e->d_name);
      tree_ops++;
    }
    if (isdir) {
      int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (sub < 0) die("openat", e->d_name);
      walk_rec(sub, e->d_name, mode);
      if (mode == WALK_RM) {
        if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR)) die("rmdir", e->d_name);
        tree_ops++;
      }
    } else if (mode == WALK_READ) {
      int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("openat", e->d_name);
      ssize_t r;
      while ((r = read(fd, rbuf, sizeof rbuf)) > 0) tree_made += r;
      if (r < 0) die("read", e->d_name);
      close(fd);
      tree_ops++;
    } else if (mode == WALK_RM) {
      if (unlinkat(dirfd(d), e->d_name, 0)) die("unlink", e->d_name);
      tree_ops++;
    }
    errno = 0;
  }
  if (errno) die("readdir", path);
  closedir(d);
}

static int walk_cmd(const char *dir, int mode) {
  double t0 = now();
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) die("open", dir);
  walk_rec(fd, dir, mode);
  if (mode == WALK_RM) {
    if (rmdir(dir)) die("rmdir", dir);
    tree_ops++;
  }
  report(now() - t0, tree_ops, tree_made);
  return 0;
}

/* ---- sequential I/O ---- */

static char *aligned_buf(long long bs) {
  void *p;
  if (posix_memalign(&p, 4096, (size_t)bs)) die("posix_memalign", NULL);
  memset(p, 0x5a, (size_t)bs);
  return p;
}

static int seqwrite_cmd(const char *file, long long bytes, long long bs, int append) {
  char *buf = aligned_buf(bs);
  double t0 = now();
  int fd = open(file, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC | (append ? O_APPEND : 0), 0644);
  if (fd < 0) die("open", file);
  long long done = 0, quarter = bytes / 4, next = quarter;
  double marks[4];
  int m = 0;
  while (done < bytes) {
    long long want = bytes - done < bs ? bytes - done : bs;
    ssize_t w = write(fd, buf, (size_t)want);
    if (w <= 0) die("write", file);
    done += w;
    if (append && m < 4 && done >= next) marks[m++] = now() - t0, next += quarter;
  }
  if (close(fd)) die("close", file);
  double sec = now() - t0;
  if (append) {
    printf("{\"sec\":%.9f,\"ops\":%lld,\"bytes\":%lld,\"quarters\":[%.6f,%.6f,%.6f,%.6f]}\n", sec, bytes / bs, bytes,
           marks[0], marks[1], marks[2], marks[3]);
  } else {
    report(sec, (bytes + bs - 1) / bs, bytes);
  }
  return 0;
}

static int seqread_cmd(const char *file, long long bs) {
  char *buf = aligned_buf(bs);
  double t0 = now();
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", file);
  long long done = 0, ops = 0;
  ssize_t r;
  while ((r = read(fd, buf, (size_t)bs)) > 0) done += r, ops++;
  if (r < 0) die("read", file);
  close(fd);
  report(now() - t0, ops, done);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 3) goto usage;
  const char *cmd = argv[1];
  if (!strcmp(cmd, "floor") && argc == 5) return floor_cmd(argv[2], atof(argv[3]), (int)num(argv[4]), 0);
  if (!strcmp(cmd, "statloop") && argc == 5) return floor_cmd(argv[2], atof(argv[3]), (int)num(argv[4]), 1);
  if (!strcmp(cmd, "create") && argc == 4) return create_cmd(argv[2], num(argv[3]));
  if (!strcmp(cmd, "stat") && argc == 4) return stat_cmd(argv[2], num(argv[3]));
  if (!strcmp(cmd, "readdir") && argc == 3) return readdir_cmd(argv[2]);
  if (!strcmp(cmd, "unlink") && argc == 4) return unlink_cmd(argv[2], num(argv[3]));
  if (!strcmp(cmd, "mktree") && argc == 5) return mktree_cmd(argv[2], num(argv[3]), num(argv[4]));
  if (!strcmp(cmd, "walk") && argc == 3) return walk_cmd(argv[2], WALK_STAT);
  if (!strcmp(cmd, "readtree") && argc == 3) return walk_cmd(argv[2], WALK_READ);
  if (!strcmp(cmd, "rmtree") && argc == 3) return walk_cmd(argv[2], WALK_RM);
  if (!strcmp(cmd, "seqwrite") && argc == 5) return seqwrite_cmd(argv[2], num(argv[3]), num(argv[4]), 0);
  if (!strcmp(cmd, "append") && argc == 5) return seqwrite_cmd(argv[2], num(argv[3]), num(argv[4]), 1);
  if (!strcmp(cmd, "seqread") && argc == 4) return seqread_cmd(argv[2], num(argv[3]));
usage:
  fprintf(stderr, "usage: see the comment at the top of bench/c/pbench.c\n");
  return 2;
}
