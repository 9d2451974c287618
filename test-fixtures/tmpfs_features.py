#!/usr/bin/env python3
"""Exercise tmpfs features through real syscalls and print one line per check.

Run on a kernel tmpfs and on a puffs tmpfs mount: the outputs must be equal.
Prints results and errno names, never inode numbers, devices or times.
"""
import ctypes, hashlib, errno, fcntl, os, stat, sys, socket, time

root = sys.argv[1]
os.chdir(root)
libc = ctypes.CDLL(None, use_errno=True)
out = []


def name(e):
    return errno.errorcode.get(e, str(e))


def t(label, fn, *a):
    try:
        r = fn(*a)
        out.append(f"{label}: {r!r}")
    except OSError as e:
        out.append(f"{label}: {name(e.errno)}")


def st(path, follow=False):
    s = os.stat(path) if follow else os.lstat(path)
    return (stat.filemode(s.st_mode), oct(s.st_mode), s.st_nlink, s.st_size, s.st_blocks, s.st_uid, s.st_gid, s.st_rdev)


def renameat2(a, b, flags):
    AT_FDCWD = -100
    r = libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags)
    if r != 0:
        raise OSError(ctypes.get_errno(), "renameat2")
    return 0


NOREPLACE, EXCHANGE = 1, 2

# ---- files, holes, sizes -------------------------------------------------------
with open("f", "wb") as f:
    f.write(b"hello")
t("stat f", st, "f")
fd = os.open("sparse", os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"x" * 10, 1 << 20)
os.pwrite(fd, b"y" * 5000, 3 << 20)
t("sparse stat", st, "sparse")
for off in (0, 4096, (1 << 20) - 1, 1 << 20, (1 << 20) + 4096, 2 << 20, (3 << 20) + 5000, (3 << 20) + 8192):
    for whence, wn in ((os.SEEK_DATA, "DATA"), (os.SEEK_HOLE, "HOLE")):
        t(f"lseek {wn} {off}", os.lseek, fd, off, whence)
t("hole reads zeros", lambda: os.pread(fd, 16, 4096) == b"\0" * 16)
t("truncate grow", os.ftruncate, fd, 5 << 20)
t("grown stat", st, "sparse")
t("truncate shrink", os.ftruncate, fd, (1 << 20) + 5)
t("shrunk stat", st, "sparse")
t("shrunk read", os.pread, fd, 10, 1 << 20)
# fallocate modes
t("fallocate 0", os.posix_fallocate, fd, 0, 8192)
t("after fallocate", st, "sparse")
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 1, 2, 0x10


def fallocate(fd, mode, off, ln):
    r = libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(ln))
    if r != 0:
        raise OSError(ctypes.get_errno(), "fallocate")
    return 0


t("fallocate keep_size past eof", fallocate, fd, FALLOC_FL_KEEP_SIZE, 8 << 20, 65536)
t("after keep_size", st, "sparse")
t("punch without keep_size", fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 4096)
os.pwrite(fd, b"z" * 20000, 0)
t("punch hole", fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 8192)
t("punched read", lambda: hashlib.sha256(os.pread(fd, 12288 + 8, 4090)).hexdigest()[:16])
t("after punch", st, "sparse")
t("zero range", fallocate, fd, FALLOC_FL_ZERO_RANGE, 0, 4096)
os.close(fd)
# copy_file_range
src = os.open("f", os.O_RDONLY)
dst = os.open("copy", os.O_CREAT | os.O_WRONLY, 0o600)
t("copy_file_range", os.copy_file_range, src, dst, 5, 0, 2)
os.close(src)
os.close(dst)
t("copy content", lambda: open("copy", "rb").read())
# O_APPEND and O_TRUNC
fd = os.open("f", os.O_WRONLY | os.O_APPEND)
os.write(fd, b" world")
os.close(fd)
t("append", lambda: open("f", "rb").read())
fd = os.open("f", os.O_WRONLY | os.O_TRUNC)
os.close(fd)
t("trunc", st, "f")

# ---- names, links, directories --------------------------------------------------
os.mkdir("d")
os.mkdir("d/sub")
t("dir nlink", st, "d")
t("dir size", lambda: os.stat("d").st_size)
os.link("copy", "d/hard")
t("link nlink", lambda: os.stat("copy").st_nlink)
os.symlink("../copy", "d/sym")
t("symlink stat", st, "d/sym")
t("readlink", os.readlink, "d/sym")
t("follow", lambda: open("d/sym", "rb").read())
t("rmdir nonempty", os.rmdir, "d")
t("unlink dir", os.unlink, "d/sub")
t("rmdir file", os.rmdir, "d/hard")
t("mkdir exists", os.mkdir, "d")
t("open through file", os.stat, "f/x")
t("name too long", os.open, "n" * 256, os.O_CREAT | os.O_WRONLY)
t("name 255", lambda: os.close(os.open("n" * 255, os.O_CREAT | os.O_WRONLY)))
t("missing", os.stat, "nope")
t("excl", os.open, "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
t("open dir for write", os.open, "d", os.O_WRONLY)
# rename cases
os.mkdir("r")
os.mkdir("r/a")
os.mkdir("r/b")
open("r/a/x", "w").close()
open("r/file", "w").close()
open("r/file2", "w").close()
t("rename dir into itself", os.rename, "r/a", "r/a/inner")
t("rename dir over nonempty dir", os.rename, "r/b", "r/a")
t("rename file over dir", os.rename, "r/file", "r/b")
t("rename dir over file", os.rename, "r/b", "r/file")
t("rename noreplace exists", renameat2, "r/file", "r/file2", NOREPLACE)
t("rename noreplace new", renameat2, "r/file", "r/file3", NOREPLACE)
t("rename exchange", renameat2, "r/file3", "r/a", EXCHANGE)
t("exchanged types", lambda: (stat.filemode(os.lstat("r/file3").st_mode), stat.filemode(os.lstat("r/a").st_mode)))
t("exchange missing", renameat2, "r/file3", "r/none", EXCHANGE)
os.mkdir("r/empty")
t("rename dir over empty dir", os.rename, "r/file3", "r/empty")
t("r listing", lambda: sorted(os.listdir("r")))
t("r nlink", lambda: os.stat("r").st_nlink)
os.link("r/file2", "r/file2b")
t("rename hardlink onto itself", os.rename, "r/file2", "r/file2b")
t("both names remain", lambda: sorted(os.listdir("r")))
# special files
os.mkfifo("fifo", 0o640)
t("fifo", st, "fifo")
os.mknod("chr", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
t("chr", st, "chr")
s = socket.socket(socket.AF_UNIX)
s.bind("sock")
s.close()
t("sock", lambda: stat.filemode(os.lstat("sock").st_mode))

# ---- O_TMPFILE --------------------------------------------------------------------
try:
    fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    os.write(fd, b"tmp")
    t("tmpfile nlink", lambda: os.fstat(fd).st_nlink)
    AT_SYMLINK_FOLLOW = 0x400
    r = libc.linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, b"linked", AT_SYMLINK_FOLLOW)
    out.append(f"linkat: {r}")
    t("linked content", lambda: open("linked", "rb").read())
    t("linked nlink", lambda: os.stat("linked").st_nlink)
    os.close(fd)
except OSError as e:
    out.append(f"tmpfile: {name(e.errno)}")

# ---- xattrs -------------------------------------------------------------------------
t("getxattr missing", os.getxattr, "f", "user.a")
t("setxattr", os.setxattr, "f", "user.a", b"1")
t("setxattr create exists", os.setxattr, "f", "user.a", b"2", os.XATTR_CREATE)
t("setxattr replace missing", os.setxattr, "f", "user.b", b"2", os.XATTR_REPLACE)
t("setxattr replace", os.setxattr, "f", "user.a", b"22", os.XATTR_REPLACE)
t("getxattr", os.getxattr, "f", "user.a")
t("trusted", os.setxattr, "f", "trusted.t", b"t")
t("security", os.setxattr, "f", "security.s", b"s")
t("other namespace", os.setxattr, "f", "bogus.s", b"s")
t("listxattr", lambda: sorted(os.listxattr("f")))
t("too big", os.setxattr, "f", "user.big", b"v" * 65537)
t("name too long", os.setxattr, "f", "user." + "n" * 251, b"v")
t("user xattr on fifo", os.setxattr, "fifo", "user.a", b"1")
t("user xattr on symlink", lambda: os.setxattr("d/sym", "user.a", b"1", follow_symlinks=False))
buf = ctypes.create_string_buffer(1)
r = libc.getxattr(b"f", b"user.a", buf, ctypes.c_size_t(1))
out.append(f"getxattr small buffer: {r} {name(ctypes.get_errno()) if r < 0 else ''}")
t("removexattr", os.removexattr, "f", "user.a")
t("removexattr missing", os.removexattr, "f", "user.a")

# ---- ownership, modes, set-id bits (as another user in a child) --------------------
os.mkdir("sg", 0o777)
os.chown("sg", 0, 1234)
os.chmod("sg", 0o2777)
os.mkdir("sticky", 0o1777)
open("sticky/rootfile", "w").close()
open("suid", "w").close()
os.chmod("suid", 0o6777)
pid = os.fork()
if pid == 0:
    res = []
    try:
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        for label, fn in (
            ("sg file", lambda: (open("sg/file", "w").close(), st("sg/file"))[1]),
            ("sg dir", lambda: (os.mkdir("sg/dir"), st("sg/dir"))[1]),
            ("sticky unlink other's", lambda: os.unlink("sticky/rootfile")),
            ("sticky own", lambda: (open("sticky/mine", "w").close(), os.unlink("sticky/mine"))[1]),
            ("write clears suid", lambda: (os.write(os.open("suid", os.O_WRONLY), b"x"), oct(os.stat("suid").st_mode))[1]),
            ("chmod other's", lambda: os.chmod("f", 0o777)),
            ("chown", lambda: os.chown("sg/file", 0, 0)),
            ("write root dir file", lambda: open("f", "w")),
        ):
            try:
                res.append(f"{label}: {fn()!r}")
            except OSError as e:
                res.append(f"{label}: {name(e.errno)}")
    finally:
        sys.stdout.write("\n".join(res) + "\n")
        sys.stdout.flush()
        os._exit(0)
os.waitpid(pid, 0)


def drop_fsetid():
    """Drop CAP_FSETID from this process's effective and permitted sets (capset)."""
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    h = Header(0x20080522, 0)
    d = (Data * 2)()
    if libc.capget(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    CAP_FSETID = 4
    d[0].effective &= ~(1 << CAP_FSETID)
    d[0].permitted &= ~(1 << CAP_FSETID)
    if libc.capset(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capset")


# Who clears set-id bits on a write: buffered (read-write) and write-only
# opens, by root, by root without CAP_FSETID, and by another user.
for who in ("root", "root without CAP_FSETID", "uid 1000"):
    for how, flags in (("read-write", os.O_RDWR), ("write-only", os.O_WRONLY)):
        f = f"setid-{who.replace(' ', '-')}-{how}"
        open(f, "w").close()
        os.chmod(f, 0o6777)
        pid = os.fork()
        if pid == 0:
            try:
                if who == "root without CAP_FSETID":
                    drop_fsetid()
                elif who == "uid 1000":
                    os.setgroups([])
                    os.setgid(1000)
                    os.setuid(1000)
                fd = os.open(f, flags)
                os.write(fd, b"x" * 5000)
                os.pwrite(fd, b"y", 1)
                os.close(fd)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        t(f"write by {who}, {how}", lambda: oct(os.stat(f).st_mode))
open("own", "w").close()
os.chmod("own", 0o6755)
os.chown("own", 1000, 1000)
t("chown clears set-id", lambda: oct(os.stat("own").st_mode))

# ---- timestamps relations --------------------------------------------------------------
before = os.stat("d")
time.sleep(0.01)
open("d/newfile", "w").close()
after = os.stat("d")
t("create bumps parent mtime", lambda: after.st_mtime_ns > before.st_mtime_ns and after.st_ctime_ns == after.st_mtime_ns)
s1 = os.stat("f")
time.sleep(0.01)
os.chmod("f", 0o600)
s2 = os.stat("f")
t("chmod bumps ctime only", lambda: (s2.st_ctime_ns > s1.st_ctime_ns, s2.st_mtime_ns == s1.st_mtime_ns))
os.utime("f", ns=(1_000_000_123, 2_000_000_456))
t("utimes ns", lambda: (os.stat("f").st_atime_ns, os.stat("f").st_mtime_ns))

# ---- locks ------------------------------------------------------------------------------
fd = os.open("f", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:
    fd2 = os.open("f", os.O_RDWR)
    res = []
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        res.append("child lock: taken")
    except OSError as e:
        res.append(f"child lock: {name(e.errno)}")
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 10)
        res.append("child other range: taken")
    except OSError as e:
        res.append(f"child other range: {name(e.errno)}")
    os.write(ready_w, b"x")
    fcntl.lockf(fd2, fcntl.LOCK_EX, 10, 0)  # blocks until the parent unlocks
    # The parent creates the marker just before it unlocks: a lock that did not wait misses it.
    res.append(f"child waited: {os.path.exists('unlock-marker')}")
    sys.stdout.write("\n".join(res) + "\n")
    sys.stdout.flush()
    os._exit(0)
os.read(ready_r, 1)
time.sleep(0.2)
open("unlock-marker", "w").close()
fcntl.lockf(fd, fcntl.LOCK_UN, 10, 0)
os.waitpid(pid, 0)
os.close(fd)
# POSIX: closing any descriptor of the file drops the process's locks on it.
fd = os.open("f", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 10, 0)
os.close(os.open("f", os.O_RDONLY))
pid = os.fork()
if pid == 0:
    fd2 = os.open("f", os.O_RDWR)
    try:
        fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0)
        sys.stdout.write("lock after closing another descriptor: dropped\n")
    except OSError as e:
        sys.stdout.write(f"lock after closing another descriptor: {name(e.errno)}\n")
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
os.close(fd)
fa = os.open("f", os.O_RDONLY)
fb = os.open("f", os.O_RDONLY)
fcntl.flock(fa, fcntl.LOCK_EX)
t("flock conflict", fcntl.flock, fb, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(fa, fcntl.LOCK_UN)
t("flock after unlock", fcntl.flock, fb, fcntl.LOCK_EX | fcntl.LOCK_NB)
os.close(fa)
os.close(fb)

# ---- readdir while entries come and go ----------------------------------------------------
os.mkdir("many")
for i in range(300):
    open(f"many/e{i:03}", "w").close()
seen = []
removed = set()
with os.scandir("many") as it:
    for n, e in enumerate(it):
        seen.append(e.name)
        if n % 10 == 0:
            victim = f"many/e{(n * 7) % 300:03}"
            if os.path.exists(victim) and os.path.basename(victim) not in seen:
                os.unlink(victim)
                removed.add(os.path.basename(victim))
            open(f"many/new{n}", "w").close()
stable = {f"e{i:03}" for i in range(300)} - removed
t("readdir stable: each kept entry once", lambda: all(seen.count(x) == 1 for x in stable) and len(set(seen)) == len(seen))

# ---- write-only opens and cached pages (puffs writes those around the page cache) ----------
import mmap
with open("wo", "wb") as f:
    f.write(b"a" * 10000)
rfd = os.open("wo", os.O_RDONLY)
t("wo: read caches", os.pread, rfd, 8, 4092)
wfd = os.open("wo", os.O_WRONLY)
os.pwrite(wfd, b"BBBB", 4094)
t("wo: cached reader sees the write", os.pread, rfd, 8, 4092)
os.setxattr("wo", "security.capability", b"\x01\x00\x00\x02" + b"\x00" * 16)
t("wo: capability set", lambda: len(os.getxattr("wo", "security.capability")))
os.pwrite(wfd, b"c", 0)
t("wo: write drops capability", lambda: "security.capability" in os.listxattr("wo"))
mfd = os.open("wo", os.O_RDWR)
m = mmap.mmap(mfd, 8192)
t("wo: mapped", lambda: bytes(m[4092:4100]))
os.pwrite(wfd, b"DDDD", 4094)
t("wo: mapping sees the write", lambda: bytes(m[4092:4100]))
m[0:2] = b"MM"
os.pwrite(wfd, b"EE", 100)
t("wo: dirty mapped page and a write to it", lambda: (bytes(m[0:4]), bytes(m[98:104]), os.pread(rfd, 4, 0), os.pread(rfd, 6, 98)))
os.pwrite(wfd, b"F" * 8192, 8192)
t("wo: appended pages", lambda: (os.fstat(rfd).st_size, os.pread(rfd, 4, 16380)))
m.close()
for x in (rfd, wfd, mfd):
    os.close(x)
t("wo: content", lambda: hashlib.sha256(open("wo", "rb").read()).hexdigest()[:16])

# ---- statfs ----------------------------------------------------------------------------------
sv = os.statvfs(".")
t("statfs", lambda: (sv.f_bsize, sv.f_frsize, sv.f_blocks, sv.f_namemax, sv.f_files))
print("\n".join(out))
