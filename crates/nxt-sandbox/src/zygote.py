# nxt-sandbox zygote: a warm Python interpreter that forks one child per job.
#
# Started by the Rust side as `python -S -c <bootstrap.py> <this source>` (which execs
# `python -S <this compiled to a .pyc>`) with one end of a Unix
# stream socket at fd 3, the write end of the pid pipe at fd 4 (each job's child
# writes its pid there, an i32, once it leads its own process group and before any
# code of the job runs; Rust reads it only when it needs it), stdin on /dev/null, and
# stdout and stderr on one pipe that Rust reads until this process says it is ready.
# The fork and the call of the harness's main() are at module level on purpose: the
# program's stack starts one frame (this module) deeper than a plain script's, no
# more.
#
# Protocol (integers little-endian):
#   Rust -> zygote   b"C" u32 len, JSON config          once, at start
#                    b"J" u64 payload_len, i64 rlimit_as, i64 cpu_seconds,
#                       i64 rlimit_nofile, i64 rlimit_fsize, i64 rlimit_nproc
#                       (-1: leave as is), 32 bytes secret (hex), with SCM_RIGHTS
#                       [stdout_w, stderr_w, channel_w]; then the payload bytes
#                       (usually in the same sendmsg)
#                    b"K"                               kill the running job
#                    b"Q"                               goodbye: the socket closes next
#                                                       and Rust removes the pool's files
#   zygote -> Rust   b"R" u32 len, JSON {"interpreter", "pid", "isolation", ...}  ready
#                    b"E" u32 0      the harness (or a preload) raised; traceback on stderr
#                    b"X" u32 len, message    isolation could not be set up
#   zygote -> Rust   b"S" u32 12, i32 status, u64 cpu_us   the child exited (raw wait
#                                             status, its CPU time), everything it
#                                             started is dead and reaped, and its
#                                             files are gone
import builtins
import os
import sys
import signal
import _signal
import _socket
import resource
import select
import json
import stat
import struct
import gc
import time

# A job runs in this process after the fork and may rebind builtins or os._exit:
# the functions below look builtins up in this snapshot instead (functions bind their
# builtins when they are created), and the module-level code that runs after a job's
# main() finds the names it needs among our globals first.
__builtins__ = dict(builtins.__dict__)
BaseException = BaseException
SystemExit = SystemExit
_exit = os._exit

if sys.argv[:1] != ["-c"]:
    # Run from the .pyc file that bootstrap.py wrote: remove it, and look as if run
    # with -c (argv, the first entry of sys.path: the job's working directory).
    _pyc = sys.argv[0]
    try:
        os.unlink(_pyc)
    except OSError:
        pass
    if sys.path and sys.path[0] in (os.path.dirname(_pyc),
                                    os.path.dirname(os.path.realpath(_pyc))):
        sys.path[0] = ""
    sys.argv[:] = ["-c"]
    for _name in ("__file__", "__cached__", "_pyc"):
        globals().pop(_name, None)


def _compiled(source, filename):
    """compile(source, filename, "exec"), done in a throwaway child that hands the code
    back in marshal form: what the compiler leaves resident dies with the child (see
    bootstrap.py). Any failure there compiles here (a SyntaxError is raised here)."""
    import marshal

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            data = marshal.dumps(compile(source, filename, "exec", dont_inherit=True))
            while data:
                data = data[os.write(w, data):]
            os._exit(0)
        finally:
            os._exit(1)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    if os.waitpid(pid, 0)[1] == 0:
        try:
            return marshal.loads(b"".join(chunks))
        except (EOFError, ValueError, TypeError):
            pass
    return compile(source, filename, "exec", dont_inherit=True)

_SOCK_FD = 3
_PID_FD = 4  # the pid pipe: each job's child writes its pid there (an i32)
for _fd in (_SOCK_FD, _PID_FD):
    os.set_inheritable(_fd, False)  # forks keep them; nothing we exec does
# The C socket type, not socket.py's (whose import builds enums of every constant:
# 300 KB more in every fork).
_sock = _socket.socket(fileno=_SOCK_FD)
_ZPID = os.getpid()
_inbuf = bytearray()
_infds = []
# The interpreter's own stdio objects, born on a pipe (not seekable, block-buffered
# stdout, line-buffered stderr) as a plain script's are: every job uses them, on its
# own pipes. Keep them alive forever: were one freed, its finalizer would close its fd.
_STDOUT = sys.stdout
_STDERR = sys.stderr
_keep = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
_devnull = os.open(os.devnull, os.O_RDWR)
_JOB_HEADER = struct.Struct("<Qqqqqq32s")


def _send(tag, data=b""):
    _sock.sendall(tag + len(data).to_bytes(4, "little") + data)


# Small: every page of it is in every fork (a larger payload takes more reads).
_RBUF = memoryview(bytearray(16384))
_ZEROS = memoryview(bytes(16384))
_RBUFS = [_RBUF]
_ANC_SPACE = _socket.CMSG_SPACE(16 * 4)
# Plain ints (socket.py's flags are IntFlag members, whose operators run enum code in
# Python: about 10 pages written per job, each a fault) and bound methods.
_SOL_SOCKET = _socket.SOL_SOCKET
_SCM_RIGHTS = _socket.SCM_RIGHTS
_MSG_CTRUNC = _socket.MSG_CTRUNC
_recvmsg_into = _sock.recvmsg_into
_sendall = _sock.sendall


def _fill():
    """Reads more bytes (and any passed fds) from the socket; False at EOF."""
    try:
        n, anc, flags, _ = _recvmsg_into(_RBUFS, _ANC_SPACE)
    except OSError:
        return False  # a reset counts as the end
    for level, kind, cdata in anc:
        if level == _SOL_SOCKET and kind == _SCM_RIGHTS:
            usable = len(cdata) - len(cdata) % 4
            for i in range(0, usable, 4):
                _infds.append(int.from_bytes(cdata[i:i + 4], "little", signed=True))
    if flags & _MSG_CTRUNC:
        raise RuntimeError("control message truncated")
    if not n:
        return False
    _inbuf.extend(_RBUF[:n])
    _RBUF[:n] = _ZEROS[:n]  # a job must not find its secret here (by name)
    return True


def _take(n):
    while len(_inbuf) < n:
        if not _fill():
            raise EOFError
    out = bytes(_inbuf[:n])
    del _inbuf[:n]
    return out


_bye = False  # whether Rust said goodbye before closing the socket


def _next_tag():
    """The next message tag, skipping stray kill requests that raced a job's end."""
    global _bye
    while True:
        tag = _take(1)
        if tag == b"Q":
            _bye = True
        if tag != b"K":
            return tag


def _interpreter():
    names = {"cpython": "CPython", "pypy": "PyPy", "graalpy": "GraalPy"}
    impl = names.get(sys.implementation.name, sys.implementation.name)
    return "%s %s" % (impl, sys.version.split()[0])


def _kill(pid):
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass


_poller = select.poll()  # the socket, and during a job the child's pidfd
_waitpid = os.waitpid
_WNOHANG = os.WNOHANG
_POLLIN = select.POLLIN
_pidfd_open = getattr(os, "pidfd_open", None)


def _wait_job(pid):
    """Waits until the child has exited, serving kill requests meanwhile.

    Leaves the child a zombie (so its pid and process group cannot be reused) and
    returns True if Rust closed the socket (we should exit after cleaning up). Runs
    while the child shares our pages: every page written here is copied, so it does
    little before it blocks."""
    global _bye
    try:
        pidfd = _pidfd_open(pid)
    except (TypeError, OSError):
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return False
    closing = False
    poller = _poller
    poller.register(pidfd, _POLLIN)
    try:
        while True:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    return closing
            if _fill():
                while _inbuf[:1] == b"K":
                    del _inbuf[:1]
                    _kill(pid)
                if _inbuf[:1] == b"Q":
                    _bye = True
                if _inbuf:  # anything else mid-job breaks the protocol
                    closing = True
                    _kill(pid)
                    poller.unregister(_SOCK_FD)
            else:
                closing = True
                _kill(pid)
                poller.unregister(_SOCK_FD)
    finally:
        poller.unregister(pidfd)
        _close(pidfd)


def _children():
    try:
        fd = os.open("/proc/self/task/%d/children" % _ZPID, os.O_RDONLY)
    except OSError:
        return None
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return [int(p) for p in b"".join(chunks).split()]


try:
    # Kept open: a pread of it lists our children afresh (zombies included).
    _CHILDREN_FD = os.open("/proc/self/task/%d/children" % _ZPID, os.O_RDONLY)
except OSError:
    _CHILDREN_FD = -1
_pread = os.pread


def _reap_all():
    """Kills and reaps every remaining descendant. This process is a child subreaper,
    so orphans of the job (double-forked daemons included) are our children. Returns
    whether there was any child to reap (False: the job left no process behind)."""
    if _CHILDREN_FD >= 0 and not _pread(_CHILDREN_FD, 1, 0):
        return False  # no child at all, not even a zombie: the common case
    try:
        if _waitpid(-1, _WNOHANG)[0] == 0 and _children() == []:
            return True  # a child of ours is alive only if listed
    except ChildProcessError:
        return False  # no child at all: the common case
    while True:
        kids = _children()
        for kid in kids or ():
            _kill(kid)
        try:
            if kids:
                os.waitpid(-1, 0)
            else:
                got, _ = os.waitpid(-1, os.WNOHANG)
                if got == 0:
                    if kids is None and _UID is None:
                        return True  # no way to find them; nothing more we can do
                    if kids is None:
                        _sweep_uid()
                    time.sleep(0.001)
        except ChildProcessError:
            return True


def _valid_id(n):
    return isinstance(n, int) and 0 < n < 2**32 - 1


def _sweep_uid():
    """Kills every process of the job uid, wherever it is: kill(-1) with the real and
    effective uid set to the job uid (the saved uid stays 0 to come back), which
    reaches exactly the processes of that uid and spares the caller. No fork needed."""
    if not _valid_id(_UID):
        return  # never kill(-1) as root (nor as "-1", which setresuid leaves alone)
    os.setresuid(_UID, _UID, 0)
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass  # ESRCH: there was no other process at all
    finally:
        try:
            os.setresuid(0, 0, 0)
        except BaseException:
            os._exit(70)  # never keep serving with the job uid


# ---- isolation set-up (once per worker) ----

_CLONE_NEWNS = 0x00020000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = (
    0x2, 0x4, 0x1000, 0x2000, 0x4000, 0x40000)
_MNT_DETACH = 2
_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_libc_call = None


def _libc():
    global _libc_call
    if _libc_call is None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)

        def call(name, *args):
            if getattr(libc, name)(*args) != 0:
                err = ctypes.get_errno()
                raise OSError(err, "%s: %s" % (name, os.strerror(err)))

        _libc_call = call
    return _libc_call


def _error(e):
    return "%s: %s" % (type(e).__name__, e) if not isinstance(e, OSError) else str(e)


_mount_ns = None  # None: not tried; True: ours; str: why not


def _private_mounts():
    """Moves this process into a mount namespace of its own (once); True if it is."""
    global _mount_ns
    if _mount_ns is None:
        try:
            call = _libc()
            call("unshare", _CLONE_NEWNS)
            call("mount", None, b"/", None, _MS_REC | _MS_PRIVATE, None)
            _mount_ns = True
        except OSError as e:
            _mount_ns = "unshare(CLONE_NEWNS): %s" % _error(e)
    return _mount_ns is True


def _enter_userns():
    """Without root: a user namespace mapping just our own uid and gid, in which we
    may create the other namespaces."""
    uid, gid = os.getuid(), os.getgid()
    _libc()("unshare", _CLONE_NEWUSER)
    for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                       ("gid_map", "%d %d 1" % (gid, gid))):
        with open("/proc/self/" + name, "w") as f:
            f.write(text)


def _blocked_dirs(paths):
    """Maps each directory that others may not search to the entries below it that
    the job needs."""
    out = {}
    for path in paths:
        for p in {os.path.abspath(path), os.path.realpath(path)}:
            cur = "/"
            for name in [n for n in p.split("/") if n]:
                try:
                    mode = os.stat(cur).st_mode
                except OSError:
                    break
                if not mode & 0o001:
                    out.setdefault(cur, set()).add(name)
                    break
                cur = os.path.join(cur, name)
    return out


def _expose(paths, staging):
    """In a private mount namespace, covers each directory on the way to `paths` that
    the job uid could not search with a tmpfs holding bind mounts of just the needed
    entries. Returns the covered directories."""
    covered = []
    for _ in range(16):
        blocked = _blocked_dirs(paths)
        if not blocked:
            return covered
        if not _private_mounts():
            raise OSError(_mount_ns)
        call = _libc()
        for d in sorted(blocked, key=len):
            st = os.stat(d)
            call("mount", b"tmpfs", staging.encode(), b"tmpfs", 0, b"mode=0711")
            for name in sorted(blocked[d]):
                src = os.path.join(d, name)
                dst = os.path.join(staging, name)
                if os.path.isdir(src):
                    os.mkdir(dst)
                else:
                    os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
                call("mount", src.encode(), dst.encode(), None, _MS_BIND | _MS_REC, None)
            os.chown(staging, st.st_uid, st.st_gid)
            call("mount", staging.encode(), d.encode(), None, _MS_MOVE, None)
            covered.append(d)
    raise OSError("could not expose %r to the job uid" % (paths,))


def _tmp_targets(needed):
    """The world-writable directories to cover with the private tmpfs, and those left
    alone because the interpreter needs something below them."""
    targets, skipped = [], []
    real_needed = [os.path.realpath(p) for p in needed]
    for d in _TMP_DIRS:
        try:
            st = os.lstat(d)
        except OSError:
            continue
        if not (stat.S_ISDIR(st.st_mode) and st.st_mode & 0o002):
            continue  # a symlink (to another of them) or not world-writable
        if any(p == d or p.startswith(d + "/") for p in real_needed):
            skipped.append(d)
        elif d not in targets:
            targets.append(d)
    return targets, skipped


def _mount_tmp():
    call = _libc()
    options = ("size=%d,nr_inodes=%d,mode=1777" % (_TMP_SIZE, max(_TMP_SIZE >> 14, 64)))
    call("mount", b"tmpfs", _TMP[0].encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV,
         options.encode())
    for d in _TMP[1:]:
        call("mount", _TMP[0].encode(), d.encode(), None, _MS_BIND, None)


def _reset_tmp():
    """A fresh, empty private tmpfs: whatever a job left (files it made unwritable,
    millions of them, a full file system) goes at once."""
    call = _libc()
    for d in reversed(_TMP):
        call("umount2", d.encode(), _MNT_DETACH)
    _mount_tmp()


def _tmp_used():
    st = _statvfs(_TMP[0])
    return st.f_files - st.f_ffree


_statvfs = os.statvfs


def _rmtree(path):
    """Removes a job's working directory outside the private tmpfs, even if the job
    made parts of it unreadable or unwritable (all its processes are dead by now)."""
    import shutil

    def fix(func, p, exc):
        for q in (os.path.dirname(p), p):
            try:
                if not os.path.islink(q):
                    os.chmod(q, 0o700)
            except OSError:
                pass
        try:
            func(p)
        except FileNotFoundError:
            pass

    try:
        shutil.rmtree(path, onerror=fix)
    except (OSError, RecursionError):
        pass
    if os.path.lexists(path):  # deeper than Python's recursion: let coreutils do it
        for argv in (["chmod", "-R", "u+rwx", path], ["rm", "-rf", "--one-file-system", path]):
            try:
                os.waitpid(os.posix_spawnp(argv[0], argv, {"PATH": "/usr/bin:/bin"}), 0)
            except OSError:
                pass
    return not os.path.lexists(path)


def _probe(paths):
    """Forks a child that drops to the job uid and checks it can read `paths`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            _drop(_NPROC)
            bad = [
                p for p in paths
                if not os.access(p, os.R_OK | (os.X_OK if os.path.isdir(p) else 0))
            ]
            if bad:
                os.write(w, ("not readable by uid %d: %s" % (_UID, ", ".join(bad))).encode())
        except BaseException as e:
            os.write(w, ("%s: %s" % (type(e).__name__, e)).encode())
        finally:
            _exit(0)
    os.close(w)
    msg = b""
    while True:
        chunk = os.read(r, 4096)
        if not chunk:
            break
        msg += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return msg.decode("utf-8", "replace")


def _drop(nproc):
    if nproc >= 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    os.setgroups([])
    os.setgid(_GID)
    os.setuid(_UID)


def _measure(state, detail="", code=""):
    """One isolation measure: its state, a short stable code (for every result's
    metadata; lib.rs lists them) and a description."""
    return {"state": state, "detail": detail, "code": code}


# ---- a job's child ----

_setsid = os.setsid
_getpid = os.getpid
_write = os.write
_chdir = os.chdir
_setgid = os.setgid
_setuid = os.setuid
_dup2 = os.dup2
_close = os.close
_setrlimit = resource.setrlimit
_SIGINT = signal.SIGINT
_default_int_handler = signal.default_int_handler
_capset = None  # set when jobs must shed the capabilities of our user namespace
_PID_BYTES = struct.Struct("<i").pack
_END_MESSAGE = struct.Struct("<5siQ").pack  # b"S" u32 12, i32 status, u64 cpu_us
_END_TAG = b"S\x0c\x00\x00\x00"


def _child_setup(job):
    """Runs in the forked child, before the harness's main()."""
    _setsid()
    # Our pid is our process group's id now: from here on Rust can kill the job
    # without the zygote's help. The pipe has it before any code of the job runs
    # (Rust reads it only when it needs it: it costs no wake-up).
    _write(_PID_FD, _PID_BYTES(_getpid()))
    _signal.signal(_SIGINT, _default_int_handler)
    limits, fds, workdir = job
    for res, value in limits:
        _setrlimit(res, value)
    _chdir(workdir)
    if _UID is not None:
        _setgid(_GID)  # the zygote has no supplementary groups
        _setuid(_UID)
    if _capset is not None:
        _capset()
    _dup2(_devnull, 0)
    _dup2(fds[0], 1)
    _dup2(fds[1], 2)
    _dup2(fds[2], 3)
    _closerange(4, _MAXFD)


def _child_failed(exc, job):
    """The child could not be set up: say why on its stderr pipe, exit with 125."""
    message = ("nxt-sandbox: job setup failed: %r\n" % (exc,)).encode()
    for fd in (job[1][1], 2):  # the received fd, or fd 2 if it was moved there already
        try:
            os.write(fd, message)
            break
        except BaseException:
            pass
    _exit(125)


def _job_payload():
    """The job's payload, which the child hands to main(); the zygote's globals
    forget it (and, unless main takes it, the secret) so a program cannot find them
    there by name."""
    global _job
    _job = None
    payload = _JOB[0]
    _JOB[0] = None
    if not _PASS_SECRET:
        _JOB[1] = None
    return payload


def _job_secret():
    """The keyword arguments that pass main() the job's secret, which the zygote's
    globals forget."""
    secret = _JOB[1]
    _JOB[1] = None
    return {"secret": secret}


def _exit_code(exc):
    """The exit status of a SystemExit, as Python's own would be; never raises."""
    try:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        try:
            print(code, file=sys.stderr)
        except BaseException:
            pass
        return 1
    except BaseException:
        return 1


# The interpreter's own printer of uncaught exceptions (in C: the traceback module,
# 1.5 MB with what it imports, is not needed in every fork), as the program found it.
_excepthook = sys.__excepthook__


def _print_exception(exc):
    """Prints an uncaught exception's traceback to stderr, as the interpreter does
    for a plain script's; never raises."""
    try:
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_globals is globals():
            tb = tb.tb_next  # hide this module's frame, like a plain script's <module>
            exc.__traceback__ = tb
        _excepthook(type(exc), exc, tb)
    except BaseException:
        pass


def _finish(code):
    for stream in (sys.stdout, sys.stderr, _STDOUT, _STDERR):
        try:
            stream.flush()
        except BaseException:
            pass
    _exit(code)


def _lean_threading():
    """Makes `threading`'s after-fork handler (registered if anything imported
    threading, the site module's .pth hooks included) skip its work when the forking
    process has one thread and never started another, as the zygote: its state is
    then already right in the child, and the full handler costs a job about 80
    copy-on-write page faults. A job that forks with threads running gets the full
    handler."""
    threading = sys.modules.get("threading")
    after = getattr(threading, "_after_fork", None)
    code = getattr(after, "__code__", None)
    if code is None or code.co_argcount or code.co_freevars:
        return
    g = threading.__dict__
    if not all(n in g for n in ("_active", "_limbo", "get_ident")):
        return
    full = type(after)(code, after.__globals__, "_after_fork")
    g["_after_fork_full"] = full
    ns = {}
    exec("def _after_fork():\n"
         "    if len(_active) == 1 and not _limbo and get_ident() in _active:\n"
         "        return\n"
         "    _after_fork_full()\n", g, ns)
    after.__code__ = ns["_after_fork"].__code__


def _fast_closerange():
    """os.closerange, or where it calls close() on every fd of the range (CPython
    before 3.10: 20,000 system calls per job at an open-files limit of 20,000, 3.5 ms)
    the close_range(2) system call, when the kernel has it (Linux 5.9+)."""
    if sys.version_info >= (3, 10):
        return os.closerange  # close_range(2) inside, where the kernel has it
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        syscall.argtypes = (ctypes.c_long, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint)
        # close_range is 436 in the common system-call table (x86_64's too).
        nr = 436 if os.uname().machine in ("x86_64", "aarch64") else None
        if nr is None or syscall(nr, _MAXFD + 8, _MAXFD + 8, 0) != 0:
            return os.closerange  # no such system call here: ENOSYS
    except (OSError, AttributeError, ImportError):
        return os.closerange

    def closerange(low, high):
        if high > low and syscall(nr, low, high - 1, 0) != 0:
            os.closerange(low, high)

    return closerange


def _bind_symbols():
    """Calls, harmlessly, the libc functions a job's child calls before the harness
    runs, so that their lazy PLT binding happens here once and not in every child
    (each binding writes a copy-on-write page; with LD_BIND_NOW, as the workers are
    started, there is none left)."""
    fd = os.dup(_devnull)
    for call in (os.setsid, os.getpid, lambda: os.write(fd, b""),
                 lambda: os.chdir("."), lambda: _closerange(fd, fd + 1),
                 lambda: os.dup2(_devnull, _devnull),
                 lambda: _signal.signal(_SIGINT, _signal.getsignal(_SIGINT)),
                 lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))):
        try:
            call()
        except OSError:
            pass  # setsid: we lead our process group already
    if _UID is not None:  # root: no-ops
        os.setgid(os.getgid())
        os.setuid(os.getuid())


def _skip_pth_import(line):
    pass


def _start_site(pth_imports):
    """What the site module does when the interpreter starts, which it did not: the
    zygote runs with -S so as not to run the `import` lines of site-packages' .pth
    files (on the development machines: certifi, zipfile, lzma, threading, random,
    ...: about 55 more mappings, 2 MB more heap and two after-fork handlers in every
    fork).
    site.main() adds the site-packages directories (and the .pth files' directory
    lines) to sys.path, handles a virtual environment, the user site, `exit()`,
    `help()` and sitecustomize, as at start-up; only the .pth files' `import` lines
    are skipped unless `pth_imports`. Then sys.flags.no_site says 0 again (so that a
    Python that a job starts through subprocess or multiprocessing gets no -S)."""
    import site

    # At start-up site runs before the script's entry ('' for -c) is put first on
    # sys.path; it would make it absolute (our working directory).
    script = [] if getattr(sys.flags, "safe_path", False) else sys.path[:1]
    del sys.path[:len(script)]
    if not pth_imports:
        site.exec = _skip_pth_import  # site.addpackage runs import lines with exec()
    try:
        site.main()
    finally:
        site.__dict__.pop("exec", None)
        sys.path[:0] = script
    if sys.implementation.name != "cpython" or not sys.flags.no_site:
        return
    try:
        import ctypes

        api = ctypes.pythonapi
        api.Py_IncRef.argtypes = [ctypes.py_object]
        api.Py_IncRef.restype = None
        api.PyStructSequence_SetItem.argtypes = [ctypes.py_object, ctypes.c_ssize_t,
                                                 ctypes.py_object]
        api.PyStructSequence_SetItem.restype = None
        index = type(sys.flags).__match_args__.index("no_site")
        if sys.flags[index] == 1:
            api.Py_IncRef(0)  # SetItem steals a reference (and leaks the old 1)
            api.PyStructSequence_SetItem(sys.flags, index, 0)
    except (AttributeError, ValueError, OSError):
        pass


def _takes_secret(f):
    """Whether the harness's main has a parameter named `secret`."""
    code = getattr(f, "__code__", None)
    if code is not None:
        names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        return "secret" in names[1:]
    try:
        import inspect

        return "secret" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


# ---- start: read the config, load the harness, set up isolation, say ready ----
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the Rust side to handle
if _next_tag() != b"C":
    raise SystemExit("nxt-sandbox zygote: expected a config message")
_cfg = json.loads(_take(int.from_bytes(_take(4), "little")))
_UID = _cfg.get("uid")
_GID = _cfg.get("gid")
_NPROC = _cfg.get("max_processes") or 64
_TMP_SIZE = int(_cfg.get("tmp_size") or (256 << 20))
if _UID is not None and not (_valid_id(_UID) and _valid_id(_GID)):
    _send(b"X", ("refusing to run jobs as uid %r, gid %r" % (_UID, _GID)).encode())
    os._exit(1)
_MAXFD = max(os.sysconf("SC_OPEN_MAX"), 1024) if hasattr(os, "sysconf") else 65536
_closerange = _fast_closerange()
try:
    # Opened before a private /tmp can hide it: through it the last worker to leave
    # removes the pool's directory, whatever is mounted over its path by then.
    _STAGING_PARENT = os.open(os.path.dirname(_cfg["staging"]) or "/",
                              os.O_RDONLY | os.O_DIRECTORY)
except OSError:
    _STAGING_PARENT = None

try:
    if _cfg.get("bind_now_added"):
        # Set for our start only (every symbol bound before the first fork, so no child
        # binds one lazily, which writes a copy-on-write page): jobs do not see it.
        os.environ.pop("LD_BIND_NOW", None)
    _start_site(_cfg.get("pth_imports"))
    for _m in _cfg.get("preload", []):
        __import__(_m)
    _harness = type(sys)("__nxt_harness__")
    sys.modules["__nxt_harness__"] = _harness
    exec(_compiled(_cfg["harness"], "<harness>"), _harness.__dict__)
    _main = getattr(_harness, "main", None)
    if not callable(_main):
        raise TypeError("the harness does not define main(payload)")
    _PASS_SECRET = _takes_secret(_main)
except BaseException as _e:
    _print_exception(_e)
    sys.stderr.flush()
    _send(b"E")
    os._exit(1)

_report = {}
_covered = []
_TMP = []
_subreaper = False
try:
    import ctypes as _ctypes

    _subreaper = _ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
_report["subreaper"] = (_measure("active", "PR_SET_CHILD_SUBREAPER: orphans of a job "
                                 "become the worker's children, killed after it",
                                 "subreaper")
                        if _subreaper
                        else _measure("unavailable", "prctl refused", "prctl-refused"))
_is_root = os.geteuid() == 0
if _UID is not None:
    _report["user"] = _measure(
        "active", "an unprivileged uid per worker slot (this one %d, gid %d, no "
        "supplementary groups) with RLIMIT_NPROC %d, swept with kill(-1) after a job "
        "whose processes outlived it" % (_UID, _GID, _NPROC), "uid")
elif _cfg.get("drop_requested"):
    _report["user"] = _measure(
        "unavailable", "not running as root: jobs run as the pool's own uid %d, which "
        "can signal its worker" % os.getuid(), "not-root")
else:
    _report["user"] = _measure("off")

try:
    # Limits every job inherits: no core files (they would land in its directory),
    # no setuid gains through execve.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _UID is not None:
        _libc()("prctl", 38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    _want_net = bool(_cfg.get("network"))
    _want_tmp = bool(_cfg.get("private_tmp"))
    _want_ipc = bool(_cfg.get("private_ipc"))
    _userns = None
    _ns_error = None
    if not _is_root and (_want_net or _want_tmp or _want_ipc):
        try:
            _enter_userns()
            _userns = True
        except OSError as _e:
            _ns_error = "user namespace refused (%s)" % _error(_e)
    _in_ns = " (in a user namespace)" if _userns else ""
    _ns_code = "-in-userns" if _userns else ""

    _needed = [p for p in sys.path if p and os.path.exists(p)]
    _needed += [os.path.dirname(sys.executable)]

    if not _want_ipc:
        _report["ipc"] = _measure("off")
    elif _ns_error:
        _report["ipc"] = _measure("unavailable", _ns_error, "userns-refused")
    else:
        try:
            _libc()("unshare", _CLONE_NEWIPC)
            resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
            try:
                for _name, _value in (("shmmni", "0"), ("msgmni", "0"),
                                      ("sem", "250 32000 32 0")):
                    with open("/proc/sys/kernel/" + _name, "w") as _f:
                        _f.write(_value)
                _report["ipc"] = _measure(
                    "active", "an IPC namespace per worker in which System V IPC "
                    "cannot be created; RLIMIT_MSGQUEUE 0" + _in_ns, "ipcns" + _ns_code)
            except OSError as _e:
                _report["ipc"] = _measure(
                    "active", "an IPC namespace per worker%s; System V IPC could not be "
                    "forbidden (%s): what a job creates lasts until its worker exits"
                    % (_in_ns, _error(_e)), "ipcns-sysv-allowed" + _ns_code)
        except OSError as _e:
            _report["ipc"] = _measure("unavailable", "unshare(CLONE_NEWIPC): " + _error(_e),
                                      "unshare-refused")

    if not _want_net:
        _report["network"] = _measure("off")
    elif _ns_error:
        _report["network"] = _measure("unavailable", _ns_error, "userns-refused")
    else:
        try:
            _libc()("unshare", _CLONE_NEWNET)
            _as_root = _is_root and _UID is None
            _report["network"] = _measure(
                "active", "a network namespace per worker, loopback down: no route "
                "anywhere" + _in_ns + (" (but jobs run as root and could leave it)"
                                       if _as_root else ""),
                "netns" + _ns_code + ("-root-jobs" if _as_root else ""))
        except OSError as _e:
            _report["network"] = _measure("unavailable",
                                          "unshare(CLONE_NEWNET): " + _error(_e),
                                          "unshare-refused")

    if _UID is not None:
        # Before the private tmpfs covers /tmp: the staging directory is there.
        _covered = _expose(_needed, _cfg["staging"])
    if not _want_tmp:
        _report["tmp"] = _measure("off")
    elif _ns_error:
        _report["tmp"] = _measure("unavailable", _ns_error, "userns-refused")
    elif not _private_mounts():
        _report["tmp"] = _measure("unavailable", _mount_ns, "mountns-refused")
    else:
        _targets, _skipped = _tmp_targets(_needed)
        if _targets:
            try:
                _TMP = _targets
                _mount_tmp()
                if "TMPDIR" in os.environ:
                    os.environ["TMPDIR"] = _TMP[0]
                _report["tmp"] = _measure(
                    "active", "a private tmpfs of %d MiB per worker on %s%s, emptied "
                    "after each job%s" % (
                        _TMP_SIZE >> 20, ", ".join(_TMP), _in_ns,
                        "; %s left shared: the interpreter lives below" % ", ".join(_skipped)
                        if _skipped else ""),
                    "tmpfs" + ("-partial" if _skipped else "") + _ns_code)
            except OSError as _e:
                for _d in reversed(_TMP):
                    try:
                        _libc()("umount2", _d.encode(), _MNT_DETACH)
                    except OSError:
                        pass
                _TMP = []
                _report["tmp"] = _measure("unavailable", "mounting a tmpfs: " + _error(_e),
                                          "mount-failed")
        else:
            _report["tmp"] = _measure("unavailable", "the interpreter lives below %s"
                                      % ", ".join(_skipped), "interpreter-in-tmp")

    if _UID is not None:
        _problem = _probe(_needed)
        if _problem:
            raise OSError(_problem)
        _sweep_uid()
        os.setgroups([])  # so that a job's child only sets its uid and gid
    if _userns:
        # Jobs must not keep the capabilities we have in our user namespace (with
        # them they could undo the mounts); we keep them to reset the tmpfs.
        _ct = _ctypes
        _cap_header = (_ct.c_uint32 * 2)(0x20080522, 0)
        _cap_data = (_ct.c_uint32 * 6)()
        _raw_capset = _ct.CDLL(None, use_errno=True).capset

        def _capset():
            if _raw_capset(_cap_header, _cap_data) != 0:
                raise OSError(_ct.get_errno(), "capset")
except BaseException as _e:
    _send(b"X", ("%s: %s" % (type(_e).__name__, _e)).encode())
    os._exit(1)

if _TMP:
    _WORK_BASE, _WORK_PREFIX = _TMP[0], "nxt-job-"
    _report["workdir"] = _measure(
        "active", "a fresh directory per job in the private %s, owned by the job, "
        "removed after it" % _TMP[0], "fresh-in-private-tmp")
else:
    _WORK_BASE, _WORK_PREFIX = _cfg["staging"], "job-%d-" % _ZPID
    _report["workdir"] = _measure(
        "active", "a fresh directory per job in %s, owned by the job, removed after it"
        % _WORK_BASE, "fresh-in-pool-dir")
_TMP_CLEAN = _tmp_used() if _TMP else 0
_WORK_FORMAT = "%s/%s%%d" % (_WORK_BASE.replace("%", "%%"), _WORK_PREFIX)

# Every job writes through the interpreter's own stdio objects.
sys.stdout = sys.__stdout__ = _STDOUT
sys.stderr = sys.__stderr__ = _STDERR
sys.stdout.flush()
sys.stderr.flush()
_send(b"R", json.dumps({
    "interpreter": _interpreter(),
    "pid": _ZPID,
    "covered": _covered,
    "isolation": _report,
}).encode())
os.dup2(_devnull, 1)
os.dup2(_devnull, 2)  # Rust stops reading our output now
_RLIMITS = (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NOFILE,
            resource.RLIMIT_FSIZE)
# Without root a job cannot raise a hard limit: ask for at most the worker's own.
_HARD = {r: (-1 if _is_root else resource.getrlimit(r)[1])
         for r in _RLIMITS + (resource.RLIMIT_NPROC,)}


def _job_limits(values):
    """(resource, (soft, hard)) pairs for the job's rlimits: RLIMIT_AS, RLIMIT_CPU,
    RLIMIT_NOFILE, RLIMIT_FSIZE and RLIMIT_NPROC (-1: leave as is; for RLIMIT_NPROC,
    our max_processes when jobs run as an unprivileged uid)."""
    out = []
    for res, value in zip(_RLIMITS, values):
        if value < 0:
            continue
        hard = value + 1 if res == resource.RLIMIT_CPU else value  # SIGXCPU, then SIGKILL
        cap = _HARD[res]
        if cap >= 0:
            value, hard = min(value, cap), min(hard, cap)
        out.append((res, (value, hard)))
    nproc = values[4] if values[4] >= 0 else (_NPROC if _UID is not None else -1)
    if nproc >= 0:
        cap = _HARD[resource.RLIMIT_NPROC]
        if cap >= 0:
            nproc = min(nproc, cap)
        out.append((resource.RLIMIT_NPROC, (nproc, nproc)))
    return tuple(out)


def _next_job():
    """Reads the next job; returns (rlimits, [stdout, stderr, channel fds], working
    directory) with its payload and secret in _JOB, or None when we should stop."""
    global _jobs
    try:
        if _next_tag() != b"J":
            return None
        hdr = _JOB_HEADER.unpack(_take(_JOB_HEADER.size))
        fds = _infds[:3]
        del _infds[:3]
        payload = _take(hdr[0])
    except EOFError:
        return None
    if len(fds) != 3:
        return None
    key = hdr[1:6]
    limits = _limits_cache.get(key)
    if limits is None:
        limits = _limits_cache[key] = _job_limits(key)
    _jobs += 1
    workdir = _WORK_FORMAT % _jobs
    try:
        _mkdir(workdir, 0o700)
        if _UID is not None:
            _chown(workdir, _UID, _GID)
    except OSError:
        return None  # we cannot give the job a directory: let Rust start a new worker
    _JOB[0] = payload
    _JOB[1] = hdr[6].decode("ascii")
    return limits, fds, workdir


def _end_job(pid, job):
    """In the zygote, after the fork: waits for the child to end, kills and reaps
    everything the job started, removes its files and reports the end. True: stop
    serving."""
    closing = _wait_job(pid)
    # Only now: until the child is gone, every page we write is copied.
    _JOB[0] = _JOB[1] = None
    for fd in job[1]:
        _close(fd)
    try:
        # The child is a zombie: its process group id cannot be reused yet.
        _kill_raw(-pid, _SIGKILL)
    except OSError:
        pass
    _, status, usage = _wait4(pid, 0)
    if _reap_all() or not _subreaper:
        # Some process of the job outlived its child (killed and reaped by now), or
        # orphans could have escaped us: kill whatever of the job uid is left,
        # wherever. Otherwise there is none: every process of the job uid descends
        # from the child, and with the subreaper its orphans become our children, so
        # no child left means no process of the job left.
        _sweep_uid()
        _reap_all()
    # Every process of the job is gone: its files can go too.
    workdir = job[2]
    clean = True
    try:
        _rmdir(workdir)
    except OSError:
        clean = False
    try:
        if _TMP:
            if not clean or _tmp_used() != _TMP_CLEAN:
                _reset_tmp()
        elif not clean and not _rmtree(workdir):
            closing = True
    except OSError:
        closing = True  # not clean: tell this job's end, then let a new worker start
    cpu = int((usage.ru_utime + usage.ru_stime) * 1e6)
    try:
        _sendall(_END_MESSAGE(_END_TAG, status, cpu))
    except OSError:
        return True
    return closing


_mkdir = os.mkdir
_chown = os.chown
_kill_raw = os.kill
_SIGKILL = signal.SIGKILL
_wait4 = os.wait4
_rmdir = os.rmdir
_fork = os.fork
_JOB = [None, None]  # the job's payload and secret, until the fork

_jobs = 0
_limits_cache = {}
_lean_threading()
_bind_symbols()
# The first compile() in a process pays for lazy set-up (about 1.5 ms): pay it here,
# where no job waits, with a source that takes the common paths of the parser.
compile(
    "import math\n"
    "def f(xs, k=2, *a, **kw):\n"
    "    \"\"\"doc\"\"\"\n"
    "    out = [x * k for x in xs if x % 2 == 0]\n"
    "    d = {x: str(x) for x in out}\n"
    "    try:\n"
    "        y = sum(out) / len(out)\n"
    "    except ZeroDivisionError as e:\n"
    "        y = -1.5\n"
    "    while k > 0 and not d:\n"
    "        k -= 1\n"
    "    return f'{y:.2f}', sorted(d, key=lambda v: -v)[:3], (1, 'a', b'b', None)\n"
    "class C(object):\n"
    "    def m(self):\n"
    "        return self.a\n"
    "assert f([1, 2]) is not None, 'message'\n",
    "<warm-up>", "exec", dont_inherit=True)
gc.collect()
if hasattr(gc, "freeze"):
    gc.freeze()  # fewer copy-on-write faults in the children

# ---- serve jobs until the socket closes ----
# Only the fork and the call of main() are at module level: the child's stack holds
# this module's frame and the harness's, as a plain script's holds its own.
_poller.register(_SOCK_FD, _POLLIN)
while True:
    _job = _next_job()
    if _job is None:
        break
    _pid = _fork()
    if _pid == 0:
        try:
            _child_setup(_job)
        except BaseException as _e:
            _child_failed(_e, _job)
        _code = 1
        try:
            try:
                if _PASS_SECRET:
                    _main(_job_payload(), **_job_secret())
                else:
                    _main(_job_payload())
                _code = 0
            except SystemExit as _e:
                _code = _exit_code(_e)
        except BaseException as _e:
            _print_exception(_e)
            _code = 1
        finally:
            try:
                _finish(_code)
            finally:
                _exit(1)  # whatever happened, a job's child never runs on from here
    if _end_job(_pid, _job):
        break

_reap_all()
_sweep_uid()
if not _bye:
    # The socket closed without a goodbye: the Rust process is gone (it exited
    # without dropping its pool, or was killed). The last of its workers to leave
    # removes the pool's directory (empty by now; rmdir fails while it is not).
    try:
        if _STAGING_PARENT is not None:
            os.rmdir(os.path.basename(_cfg["staging"]), dir_fd=_STAGING_PARENT)
        else:
            os.rmdir(_cfg["staging"])
    except OSError:
        pass
os._exit(0)
