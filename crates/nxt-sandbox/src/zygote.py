# nxt-sandbox zygote: a warm Python interpreter that forks one child per job.
#
# Started by the Rust side as `python -c <this source>` with one end of a Unix stream
# socket at fd 3, stdin and stdout on /dev/null and stderr on a pipe that Rust reads
# until this process says it is ready. Everything runs at module level on purpose: a
# forked child calls the harness's main() from here, so the program's stack starts one
# frame (this module) deeper than a plain script's.
#
# Protocol (integers little-endian):
#   Rust -> zygote   b"C" u32 len, JSON config          once, at start
#                    b"J" u64 payload_len, i64 rlimit_as, with SCM_RIGHTS
#                       [stdout_w, stderr_w, channel_w], then the payload bytes
#                    b"K"                               kill the running job
#   zygote -> Rust   b"R" u32 len, JSON {"interpreter", "pid", ...}   ready
#                    b"E" u32 0      the harness (or a preload) raised; traceback on stderr
#                    b"X" u32 len, message    isolation could not be set up
#                    b"P" u32 4, i32 pid      a job's child was forked
#                    b"S" u32 4, i32 status   the child exited (raw wait status) and
#                                             everything it started is dead and reaped
import os
import sys
import signal
import socket
import resource
import select
import json
import traceback
import gc
import time

_SOCK_FD = 3
_sock = socket.socket(fileno=_SOCK_FD)
_ZPID = os.getpid()
_inbuf = bytearray()
_infds = []
# Keep the original stdio objects alive forever: if a child rebinds sys.stdout and the
# old object were freed, its finalizer would close fd 1, which is the child's pipe.
_keep = (sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__)
_devnull = os.open(os.devnull, os.O_RDWR)
_out_encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
_err_encoding = getattr(sys.stderr, "encoding", None) or "utf-8"


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


def _next_tag():
    """The next message tag, skipping stray kill requests that raced a job's end."""
    while True:
        tag = _take(1)
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


def _wait_job(pid):
    """Waits until the child has exited, serving kill requests meanwhile.

    Leaves the child a zombie (so its pid and process group cannot be reused) and
    returns True if Rust closed the socket (we should exit after cleaning up)."""
    closing = False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is None:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        return closing
    try:
        poller = select.poll()
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
                    if _inbuf:  # anything else mid-job breaks the protocol
                        closing = True
                        _kill(pid)
                        poller.unregister(_SOCK_FD)
                else:
                    closing = True
                    _kill(pid)
                    poller.unregister(_SOCK_FD)
    finally:
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
    reaches exactly the processes of that uid and spares the caller. No fork needed."""
    if not _valid_id(_UID):
        return  # never kill(-1) as root (nor as "-1", which setresuid leaves alone)
    os.setresuid(_UID, _UID, 0)
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    finally:
        try:
            os.setresuid(0, 0, 0)
        except BaseException:
            os._exit(70)  # never keep serving with the job uid


def _libc():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def call(name, *args):
        if getattr(libc, name)(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "%s%r: %s" % (name, args, os.strerror(err)))

    return call


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
    call = None
    for _ in range(16):
        blocked = _blocked_dirs(paths)
        if not blocked:
            return covered
        if call is None:
            call = _libc()
            call("unshare", 0x00020000)  # CLONE_NEWNS
            call("mount", None, b"/", None, 0x4000 | 0x40000, None)  # MS_REC|MS_PRIVATE
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
                call("mount", src.encode(), dst.encode(), None, 0x1000 | 0x4000, None)
            os.chown(staging, st.st_uid, st.st_gid)
            call("mount", staging.encode(), d.encode(), None, 0x2000, None)  # MS_MOVE
            covered.append(d)
    raise OSError("could not expose %r to the job uid" % (paths,))


def _probe(paths):
    """Forks a child that drops to the job uid and checks it can read `paths`."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            _drop()
            bad = [
                p for p in paths
                if not os.access(p, os.R_OK | (os.X_OK if os.path.isdir(p) else 0))
            ]
            if bad:
                os.write(w, ("not readable by uid %d: %s" % (_UID, ", ".join(bad))).encode())
        except BaseException as e:
            os.write(w, ("%s: %s" % (type(e).__name__, e)).encode())
        finally:
            os._exit(0)
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


def _drop():
    resource.setrlimit(resource.RLIMIT_NPROC, (_NPROC, _NPROC))
    os.setgroups([])
    os.setgid(_GID)
    os.setuid(_UID)


def _child_setup(rlimit_as, fds, gate):
    """Runs in the forked child, before the harness's main()."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if rlimit_as >= 0:
        resource.setrlimit(resource.RLIMIT_AS, (rlimit_as, rlimit_as))
    if _UID is not None:
        _drop()
    os.dup2(_devnull, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    os.dup2(fds[2], 3)
    # Wait until the zygote has reported our pid: were we to kill it first, nobody
    # could kill us.
    if os.read(gate, 1) != b"x":
        os._exit(125)
    os.closerange(4, _MAXFD)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding=_out_encoding, errors="strict")
    sys.stderr = sys.__stderr__ = open(
        2, "w", buffering=1, encoding=_err_encoding, errors="backslashreplace"
    )


def _child_failed(exc, fds):
    """The child could not be set up: say why on its stderr pipe, exit with 125."""
    message = ("nxt-sandbox: job setup failed: %r\n" % (exc,)).encode()
    for fd in (fds[1], 2):  # the received fd, or fd 2 if it was moved there already
        try:
            os.write(fd, message)
            break
        except BaseException:
            pass
    os._exit(125)


def _exit_code(exc):
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


def _print_exception(exc):
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next  # hide this module's frame, like a plain script's <module>
    traceback.print_exception(type(exc), exc, tb)


def _finish(code):
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


# ---- start: read the config, load the harness, set up isolation, say ready ----
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the Rust side to handle
if _next_tag() != b"C":
    raise SystemExit("nxt-sandbox zygote: expected a config message")
_cfg = json.loads(_take(int.from_bytes(_take(4), "little")))
_UID = _cfg.get("uid")
_GID = _cfg.get("gid")
_NPROC = _cfg.get("max_processes") or 64
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
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    _send(b"E")
    os._exit(1)

_covered = []
_subreaper = False
try:
    import ctypes as _ctypes

    _subreaper = _ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
if _UID is not None:
    try:
        _needed = [p for p in sys.path if p and os.path.exists(p)]
        _needed += [os.path.dirname(sys.executable), os.getcwd()]
        _covered = _expose(_needed, _cfg["staging"])
        _problem = _probe(_needed)
        if _problem:
            raise OSError(_problem)
        _sweep_uid()
    except BaseException as _e:
        _send(b"X", ("%s: %s" % (type(_e).__name__, _e)).encode())
        os._exit(1)

sys.stdout.flush()
sys.stderr.flush()
_send(b"R", json.dumps({
    "interpreter": _interpreter(),
    "pid": _ZPID,
    "subreaper": _subreaper,
    "covered": _covered,
}).encode())
os.dup2(_devnull, 2)  # Rust stops reading our stderr now
gc.collect()
if hasattr(gc, "freeze"):
    gc.freeze()  # fewer copy-on-write faults in the children

# ---- serve jobs until the socket closes ----
while True:
    try:
        if _next_tag() != b"J":
            break
        _hdr = _take(16)
        _fds, _infds[:] = _infds[:3], _infds[3:]
        _payload = _take(int.from_bytes(_hdr[:8], "little"))
    except EOFError:
        break
    _rlimit_as = int.from_bytes(_hdr[8:16], "little", signed=True)
    if len(_fds) != 3:
        break
    _gate_r, _gate_w = os.pipe()
    _pid = os.fork()
    if _pid == 0:
        try:
            os.close(_gate_w)
            _child_setup(_rlimit_as, _fds, _gate_r)
        except BaseException as _e:
            _child_failed(_e, _fds)
        try:
            _main(_payload)
            _code = 0
        except SystemExit as _e:
            _code = _exit_code(_e)
        except BaseException as _e:
            try:
                _print_exception(_e)
            except BaseException:
                pass
            _code = 1
        _finish(_code)
    os.close(_gate_r)
    for _fd in _fds:
        os.close(_fd)
    del _payload
    _send(b"P", _pid.to_bytes(4, "little", signed=True))
    os.write(_gate_w, b"x")
    os.close(_gate_w)
    _closing = _wait_job(_pid)
    _kill(_pid)  # the child is a zombie: its process group id cannot be reused yet
    _status = os.waitpid(_pid, 0)[1]
    _reap_all()
    if _closing:
        break
    try:
        _send(b"S", _status.to_bytes(4, "little", signed=True))
    except OSError:
        break
    _sweep_uid()
    _reap_all()

_reap_all()
_sweep_uid()
os._exit(0)
