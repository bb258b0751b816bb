# nxt-sandbox zygote: a warm Python interpreter that forks one child per job.
#
# Started by the Rust side as `python -c <this source>` with one end of a Unix stream
# socket at fd 3, stdin on /dev/null and stdout and stderr on one pipe that Rust reads
# until this process says it is ready. Everything runs at module level on purpose: a
# forked child calls the harness's main() from here, so the program's stack starts one
# frame (this module) deeper than a plain script's.
#
# Protocol (integers little-endian):
#   Rust -> zygote   b"C" u32 len, JSON config          once, at start
#                    b"J" u64 payload_len, i64 rlimit_as, i64 cpu_seconds,
#                       i64 rlimit_nofile, i64 rlimit_fsize, i64 rlimit_nproc
#                       (-1: leave as is), 32 bytes secret (hex), with SCM_RIGHTS
#                       [stdout_w, stderr_w, channel_w]; then the payload bytes
#                    b"K"                               kill the running job
#                    b"Q"                               goodbye: the socket closes next
#                                                       and Rust removes the pool's files
#   zygote -> Rust   b"R" u32 len, JSON {"interpreter", "pid", "isolation", ...}  ready
#                    b"E" u32 0      the harness (or a preload) raised; traceback on stderr
#                    b"X" u32 len, message    isolation could not be set up
#                    b"P" u32 4, i32 pid      a job's child was forked
#                    b"S" u32 12, i32 status, u64 cpu_us   the child exited (raw wait
#                                             status, its CPU time), everything it
#                                             started is dead and reaped, and its
#                                             files are gone
import builtins
import os
import sys
import signal
import _signal
import socket
import resource
import select
import json
import stat
import struct
import traceback
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

_SOCK_FD = 3
_sock = socket.socket(fileno=_SOCK_FD)
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


def _fill():
    """Reads more bytes (and any passed fds) from the socket; False at EOF."""
    space = socket.CMSG_SPACE(16 * 4)
    try:
        data, anc, flags, _ = _sock.recvmsg(65536, space)
    except OSError:
        return False  # a reset counts as the end
    for level, kind, cdata in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(cdata) - len(cdata) % 4
            for i in range(0, usable, 4):
                _infds.append(int.from_bytes(cdata[i:i + 4], "little", signed=True))
    if flags & socket.MSG_CTRUNC:
        raise RuntimeError("control message truncated")
    if not data:
        return False
    _inbuf.extend(data)
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


_poller = select.poll()


def _wait_job(pid):
    """Waits until the child has exited, serving kill requests meanwhile.

    Leaves the child a zombie (so its pid and process group cannot be reused) and
    returns True if Rust closed the socket (we should exit after cleaning up)."""
    global _bye
    closing = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return closing
    poller = _poller
    try:
        poller.register(pidfd, select.POLLIN)
        poller.register(_SOCK_FD, select.POLLIN)
        while True:
            ready = [fd for fd, _ in poller.poll()]
            if pidfd in ready:
                return closing
            if _SOCK_FD in ready:
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
        for fd in (pidfd, _SOCK_FD):
            try:
                poller.unregister(fd)
            except KeyError:
                pass
        os.close(pidfd)


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


def _reap_all():
    """Kills and reaps every remaining descendant. This process is a child subreaper,
    so orphans of the job (double-forked daemons included) are our children."""
    try:
        if os.waitpid(-1, os.WNOHANG)[0] == 0 and _children() == []:
            return  # the common case: a child of ours is alive only if listed
    except ChildProcessError:
        return  # no child at all
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
                        return  # no way to find them; nothing more we can do
                    if kids is None:
                        _sweep_uid()
                    time.sleep(0.001)
        except ChildProcessError:
            return


def _valid_id(n):
    return isinstance(n, int) and 0 < n < 2**32 - 1


def _sweep_uid():
    """Kills every process of the job uid, wherever it is: kill(-1) with the real and
    effective uid set to the job uid (the saved uid stays 0 to come back), which
    reaches exactly the processes of that uid and spares the caller. No fork needed.
    True if it found any."""
    if not _valid_id(_UID):
        return False  # never kill(-1) as root (nor as "-1", which setresuid leaves alone)
    os.setresuid(_UID, _UID, 0)
    try:
        os.kill(-1, signal.SIGKILL)
        return True
    except OSError:
        return False  # ESRCH: there was none
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
    st = os.statvfs(_TMP[0])
    return st.f_files - st.f_ffree


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


def _measure(state, detail=""):
    return {"state": state, "detail": detail}


# ---- a job's child ----

_setsid = os.setsid
_chdir = os.chdir
_dup2 = os.dup2
_read = os.read
_closerange = os.closerange
_setrlimit = resource.setrlimit
_SIGINT = signal.SIGINT
_default_int_handler = signal.default_int_handler
_capset = None  # set when jobs must shed the capabilities of our user namespace


def _child_setup(limits, fds, gate, workdir, nproc):
    """Runs in the forked child, before the harness's main()."""
    _setsid()
    _signal.signal(_SIGINT, _default_int_handler)
    for res, value in limits:
        _setrlimit(res, value)
    _chdir(workdir)
    if _UID is not None:
        _drop(nproc)
    elif nproc >= 0:
        _setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if _capset is not None:
        _capset()
    _dup2(_devnull, 0)
    _dup2(fds[0], 1)
    _dup2(fds[1], 2)
    _dup2(fds[2], 3)
    # Wait until the zygote has reported our pid: were we to kill it first, nobody
    # could kill us.
    if _read(gate, 1) != b"x":
        _exit(125)
    _closerange(4, _MAXFD)


def _child_failed(exc, fds):
    """The child could not be set up: say why on its stderr pipe, exit with 125."""
    message = ("nxt-sandbox: job setup failed: %r\n" % (exc,)).encode()
    for fd in (fds[1], 2):  # the received fd, or fd 2 if it was moved there already
        try:
            os.write(fd, message)
            break
        except BaseException:
            pass
    _exit(125)


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


def _print_exception(exc):
    """Prints an uncaught exception's traceback to stderr; never raises."""
    try:
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_globals is globals():
            tb = tb.tb_next  # hide this module's frame, like a plain script's <module>
        traceback.print_exception(type(exc), exc, tb)
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


def _bind_symbols():
    """Calls, harmlessly, the libc functions a job's child calls before the harness
    runs, so that their lazy PLT binding happens here once and not in every child
    (each binding writes a copy-on-write page)."""
    fd = os.dup(_devnull)
    for call in (os.setsid, lambda: os.chdir("."), lambda: os.closerange(fd, fd + 1),
                 lambda: os.dup2(_devnull, _devnull),
                 lambda: _signal.signal(_SIGINT, _signal.getsignal(_SIGINT)),
                 lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))):
        try:
            call()
        except OSError:
            pass  # setsid: we lead our process group already
    if _UID is not None:  # root: no-ops
        os.setgroups(os.getgroups())
        os.setgid(os.getgid())
        os.setuid(os.getuid())


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

try:
    for _m in _cfg.get("preload", []):
        __import__(_m)
    _harness = type(sys)("__nxt_harness__")
    sys.modules["__nxt_harness__"] = _harness
    exec(compile(_cfg["harness"], "<harness>", "exec"), _harness.__dict__)
    _main = getattr(_harness, "main", None)
    if not callable(_main):
        raise TypeError("the harness does not define main(payload)")
    _PASS_SECRET = _takes_secret(_main)
except BaseException:
    traceback.print_exc()
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
                                 "become the worker's children, killed after it")
                        if _subreaper else _measure("unavailable", "prctl refused"))
_is_root = os.geteuid() == 0
if _UID is not None:
    _report["user"] = _measure(
        "active", "an unprivileged uid per worker slot (this one %d, gid %d, no "
        "supplementary groups) with RLIMIT_NPROC %d, swept with kill(-1) after each job"
        % (_UID, _GID, _NPROC))
elif _cfg.get("drop_requested"):
    _report["user"] = _measure(
        "unavailable", "not running as root: jobs run as the pool's own uid %d, which "
        "can signal its worker" % os.getuid())
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

    _needed = [p for p in sys.path if p and os.path.exists(p)]
    _needed += [os.path.dirname(sys.executable)]

    if not _want_ipc:
        _report["ipc"] = _measure("off")
    elif _ns_error:
        _report["ipc"] = _measure("unavailable", _ns_error)
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
                    "cannot be created; RLIMIT_MSGQUEUE 0" + _in_ns)
            except OSError as _e:
                _report["ipc"] = _measure(
                    "active", "an IPC namespace per worker%s; System V IPC could not be "
                    "forbidden (%s): what a job creates lasts until its worker exits"
                    % (_in_ns, _error(_e)))
        except OSError as _e:
            _report["ipc"] = _measure("unavailable", "unshare(CLONE_NEWIPC): " + _error(_e))

    if not _want_net:
        _report["network"] = _measure("off")
    elif _ns_error:
        _report["network"] = _measure("unavailable", _ns_error)
    else:
        try:
            _libc()("unshare", _CLONE_NEWNET)
            _report["network"] = _measure(
                "active", "a network namespace per worker, loopback down: no route "
                "anywhere" + _in_ns + (" (but jobs run as root and could leave it)"
                                       if _is_root and _UID is None else ""))
        except OSError as _e:
            _report["network"] = _measure("unavailable",
                                          "unshare(CLONE_NEWNET): " + _error(_e))

    if _UID is not None:
        # Before the private tmpfs covers /tmp: the staging directory is there.
        _covered = _expose(_needed, _cfg["staging"])
    if not _want_tmp:
        _report["tmp"] = _measure("off")
    elif _ns_error:
        _report["tmp"] = _measure("unavailable", _ns_error)
    elif not _private_mounts():
        _report["tmp"] = _measure("unavailable", _mount_ns)
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
                        if _skipped else ""))
            except OSError as _e:
                for _d in reversed(_TMP):
                    try:
                        _libc()("umount2", _d.encode(), _MNT_DETACH)
                    except OSError:
                        pass
                _TMP = []
                _report["tmp"] = _measure("unavailable", "mounting a tmpfs: " + _error(_e))
        else:
            _report["tmp"] = _measure("unavailable", "the interpreter lives below %s"
                                      % ", ".join(_skipped))

    if _UID is not None:
        _problem = _probe(_needed)
        if _problem:
            raise OSError(_problem)
        _sweep_uid()
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
        "removed after it" % _TMP[0])
else:
    _WORK_BASE, _WORK_PREFIX = _cfg["staging"], "job-%d-" % _ZPID
    _report["workdir"] = _measure(
        "active", "a fresh directory per job in %s, owned by the job, removed after it"
        % _WORK_BASE)
_TMP_CLEAN = _tmp_used() if _TMP else 0

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
    """(resource, (soft, hard)) pairs for the job's rlimits (-1: leave as is)."""
    out = []
    for res, value in zip(_RLIMITS, values):
        if value < 0:
            continue
        hard = value + 1 if res == resource.RLIMIT_CPU else value  # SIGXCPU, then SIGKILL
        cap = _HARD[res]
        if cap >= 0:
            value, hard = min(value, cap), min(hard, cap)
        out.append((res, (value, hard)))
    return out


_jobs = 0
_limits_cache = {}
_lean_threading()
_bind_symbols()
gc.collect()
if hasattr(gc, "freeze"):
    gc.freeze()  # fewer copy-on-write faults in the children

# ---- serve jobs until the socket closes ----
while True:
    try:
        if _next_tag() != b"J":
            break
        _hdr = _JOB_HEADER.unpack(_take(_JOB_HEADER.size))
        _fds, _infds[:] = _infds[:3], _infds[3:]
        _payload = _take(_hdr[0])
    except EOFError:
        break
    if len(_fds) != 3:
        break
    _limits = _limits_cache.get(_hdr[1:5])
    if _limits is None:
        _limits = _limits_cache[_hdr[1:5]] = _job_limits(_hdr[1:5])
    _nproc = _hdr[5] if _hdr[5] >= 0 else (_NPROC if _UID is not None else -1)
    if _nproc >= 0 and _HARD[resource.RLIMIT_NPROC] >= 0:
        _nproc = min(_nproc, _HARD[resource.RLIMIT_NPROC])
    _secret = _hdr[6].decode("ascii")
    _jobs += 1
    _workdir = "%s/%s%d" % (_WORK_BASE, _WORK_PREFIX, _jobs)
    try:
        os.mkdir(_workdir, 0o700)
        if _UID is not None:
            os.chown(_workdir, _UID, _GID)
    except OSError:
        break  # we cannot give the job a directory: let Rust start a new worker
    _gate_r, _gate_w = os.pipe()
    _pid = os.fork()
    if _pid == 0:
        try:
            os.close(_gate_w)
            _child_setup(_limits, _fds, _gate_r, _workdir, _nproc)
        except BaseException as _e:
            _child_failed(_e, _fds)
        _code = 1
        try:
            try:
                if _PASS_SECRET:
                    _main(_payload, secret=_secret)
                else:
                    _main(_payload)
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
    os.close(_gate_r)
    for _fd in _fds:
        os.close(_fd)
    del _payload
    _send(b"P", _pid.to_bytes(4, "little", signed=True))
    os.write(_gate_w, b"x")
    os.close(_gate_w)
    _closing = _wait_job(_pid)
    _kill(_pid)  # the child is a zombie: its process group id cannot be reused yet
    _, _status, _usage = os.wait4(_pid, 0)
    _reap_all()
    if _sweep_uid():
        _reap_all()
    # Every process of the job is gone: its files can go too.
    _clean = True
    try:
        os.rmdir(_workdir)
    except OSError:
        _clean = False
    try:
        if _TMP:
            if not _clean or _tmp_used() != _TMP_CLEAN:
                _reset_tmp()
        elif not _clean and not _rmtree(_workdir):
            _closing = True
    except OSError:
        _closing = True  # not clean: tell this job's end, then let a new worker start
    _cpu = int((_usage.ru_utime + _usage.ru_stime) * 1e6)
    try:
        _send(b"S", _status.to_bytes(4, "little", signed=True) + _cpu.to_bytes(8, "little"))
    except OSError:
        break
    if _closing:
        break

_reap_all()
_sweep_uid()
if not _bye:
    # The socket closed without a goodbye: the Rust process is gone (it exited
    # without dropping its pool, or was killed). The last of its workers to leave
    # removes the pool's directory (empty by now; rmdir fails while it is not).
    try:
        os.rmdir(_cfg["staging"])
    except OSError:
        pass
os._exit(0)
