# nxt verify harness: runs one program against a task's test blocks and reports how
# each block fared.
#
# This file is part of the nxt-verify crate (embedded with include_str!) and is loaded
# as the harness of an nxt-sandbox worker: the worker imports it once, then calls
# main(payload) in a fresh forked child per check. See docs/verify.md.
#
# Payload: "NXTV1\n", then fields, each as its length in bytes (ASCII decimal), "\n"
# and its UTF-8 bytes: fail_fast ("0" or "1"), message_chars (decimal), the tokens
# (space-separated), the program, the setup ("" for none), then one field per test
# block. (Not JSON: in a freshly forked child every first touch of a page costs a page
# fault, and this takes fewer than the JSON decoder.)
#
# Wire format: the result channel starts at fd 3 and is moved to a randomly chosen
# close-on-exec fd before the program runs. Each message is one line
#     "\n" SECRET " " TOKEN " " JSON "\n"
# where SECRET is the job's secret from the sandbox (main's `secret` argument; the
# "SECRET " part is left out when the sandbox gives none) and TOKEN is tokens[n] for the
# n-th message (0-based): one-time tokens the Rust side drew for this check. Only this
# harness knows them, so a program that finds the channel and writes to it cannot
# produce a message Rust accepts, nor replay one it managed to read. The leading
# newline keeps a message intact after junk the program may have written without a
# newline; each message is one write of less than PIPE_BUF bytes, so it is never
# interleaved with what a thread of the program writes. Messages, in order:
#     {"k":"start"}                                   payload read, nothing run yet
#     {"k":"syntax","line","col","msg"}               the program does not compile: end
#     {"k":"error","stage":"program"|"setup","exc","msg","line"}   then "done"
#     {"k":"ran"}                                     the program and the setup ran
#     {"k":"test","i","st":"passed"|"failed"|"error","exc","msg","line"}  per block
#     {"k":"exit","stage","code"}                     SystemExit: the program ended
#                                                     before the tests finished: end
#     {"k":"done"}                                    every test block ran (or none
#                                                     could): always the last message
# No "done" means the run did not finish (os._exit, a signal, a limit): never a pass.

import builtins as _builtins_module
import fcntl as _fcntl
import linecache as _linecache
import os as _os
import random as _random
import resource as _resource
import sys as _sys
import traceback as _traceback
import types as _types
from _json import encode_basestring_ascii as _quote

# A private snapshot of the builtins. Functions defined below look builtin names up
# here (CPython binds a function's builtins when it is created), so a program that
# rebinds builtins.len, builtins.str or builtins.AssertionError changes nothing here.
__builtins__ = dict(_builtins_module.__dict__)

# Everything used after the program starts, captured before any program exists: a
# program that monkeypatches os, sys, json or traceback does not reach these.
_write = _os.write
_close = _os.close
_urandom = _os.urandom
_dupfd = _fcntl.fcntl
_F_DUPFD_CLOEXEC = _fcntl.F_DUPFD_CLOEXEC
_getrlimit = _resource.getrlimit
_RLIMIT_NOFILE = _resource.RLIMIT_NOFILE
_seed = _random.seed
_ModuleType = _types.ModuleType
_modules = _sys.modules
_getframe = _sys._getframe
_format_exception = _traceback.format_exception
_linecache_dict = _linecache.cache
_type_name = type.__dict__["__name__"].__get__
_HARNESS_FILE = _getframe().f_code.co_filename

_EXC_CHARS = 100
_LINE_BYTES = 3800  # under PIPE_BUF (4096): a write of a message is atomic


def _hide_channel():
    """Moves the channel from fd 3 to a close-on-exec fd at a random place between 64
    and 964 (below the open-files limit)."""
    low = 64 + int.from_bytes(_urandom(2), "little") % 900
    try:
        limit = _getrlimit(_RLIMIT_NOFILE)[0]
        if 0 <= limit < low + 16:
            low = max(4, limit // 2)
        fd = _dupfd(3, _F_DUPFD_CLOEXEC, low)
    except OSError:
        fd = _dupfd(3, _F_DUPFD_CLOEXEC, 4)
    _close(3)
    return fd


class _Channel:
    __slots__ = ("fd", "tokens", "n", "prefix")

    def __init__(self, fd, tokens, secret):
        self.fd = fd
        self.tokens = tokens
        self.n = 0
        self.prefix = "\n" + secret + " " if secret else "\n"

    def send(self, body):
        """Writes one message; False if it could not be written (the program closed
        the channel, or used every token)."""
        n = self.n
        if n >= len(self.tokens):
            return False
        data = (self.prefix + self.tokens[n] + " " + body + "\n").encode("ascii")
        self.tokens[n] = ""
        self.n = n + 1
        try:
            while data:
                data = data[_write(self.fd, data):]
        except BaseException:
            return False
        return True


def _name(exc):
    try:
        name = _type_name(type(exc))
    except BaseException:
        name = "BaseException"
    return name[:_EXC_CHARS]


def _message(exc, limit):
    try:
        text = str(exc)
        if type(text) is not str:
            text = "<unprintable>"
    except BaseException:
        text = "<unprintable>"
    if len(text) > limit:
        text = text[:limit] + "..."
    return text


def _failing_line(exc, filename):
    """The line of the deepest traceback frame whose code comes from `filename`."""
    line = None
    try:
        if isinstance(exc, SyntaxError) and exc.filename == filename:
            line = exc.lineno
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
    except BaseException:
        pass
    return line if type(line) is int and line > 0 else None


def _exception_fields(exc, filename, limit):
    """`"exc":...,"msg":...,"line":...` for a message, under the atomic-write size."""
    name = _quote(_name(exc))
    line = _failing_line(exc, filename)
    line = "null" if line is None else str(line)
    text = _message(exc, limit)
    while True:
        body = '"exc":' + name + ',"msg":' + _quote(text) + ',"line":' + line
        if len(body) < _LINE_BYTES - 200 or not text:
            return body
        text = text[: len(text) // 2] + "..."


def _print_exception(stream, exc, sources):
    """Prints the traceback as Python would, without this harness's frames, to the
    program's stderr. Best effort: nothing here may change the verdict."""
    try:
        for name, text in sources:
            _linecache_dict[name] = (len(text), None, text.splitlines(True), name)
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == _HARNESS_FILE:
            tb = tb.tb_next
        text = "".join(_format_exception(type(exc), exc, tb))
        stream.write(text)
        stream.flush()
    except BaseException:
        pass


def _exit_code(exc):
    try:
        code = exc.code
        if code is None or type(code) is int:
            return str(code if code is not None else 0)
        return _quote(_message(exc, 200))[1:-1]
    except BaseException:
        return "?"


def _split_payload(payload):
    """The fields of a payload (see the top of this file)."""
    if payload[:6] != b"NXTV1\n":
        raise ValueError("not an nxt-verify payload")
    out = []
    pos = 6
    end = len(payload)
    while pos < end:
        nl = payload.index(b"\n", pos)
        start = nl + 1
        pos = start + int(payload[pos:nl])
        out.append(payload[start:pos].decode("utf-8"))
    return out


def main(payload, secret=None):
    fields = _split_payload(payload)
    # Drop the references to the payload (it holds the tokens) and to the secret that
    # a program could reach by walking frames: ours, and the worker's, which calls us
    # from its module level. (A determined program can still find them: docs/verify.md.)
    payload = None
    try:
        caller = _getframe(1).f_globals
        for name in ("_payload", "_secret", "_hdr"):
            if name in caller and type(caller[name]) in (bytes, str, tuple):
                caller[name] = None
    except BaseException:
        pass
    channel = _Channel(_hide_channel(), fields[2].split(" "), secret)
    secret = None
    fail_fast = fields[0] == "1"
    limit = int(fields[1])
    code_text = fields[3]
    setup_text = fields[4]
    tests = fields[5:]
    fields = None
    stderr = _sys.stderr
    send = channel.send
    send('{"k":"start"}')

    # Determinism (docs/verify.md): string hashes are fixed by the worker's
    # PYTHONHASHSEED=0, and `random` is seeded here.
    _seed(0)
    module = _ModuleType("__main__")
    module.__dict__["__builtins__"] = _builtins_module
    namespace = module.__dict__
    _modules["__main__"] = module
    sources = [("<program>", code_text)]

    try:
        program = compile(code_text, "<program>", "exec", dont_inherit=True)
    except MemoryError:
        send('{"k":"error","stage":"program","exc":"MemoryError","msg":"","line":null}')
        send('{"k":"done"}')
        return
    except BaseException as e:
        # SyntaxError (IndentationError, TabError), or ValueError for null bytes,
        # RecursionError for too deep nesting: the program does not compile.
        line = getattr(e, "lineno", None) if isinstance(e, SyntaxError) else None
        col = getattr(e, "offset", None) if isinstance(e, SyntaxError) else None
        msg = (getattr(e, "msg", None) if isinstance(e, SyntaxError) else None) or _message(e, limit)
        if type(msg) is not str:
            msg = _message(e, limit)
        send(
            '{"k":"syntax","line":' + (str(line) if type(line) is int else "0")
            + ',"col":' + (str(col) if type(col) is int else "0")
            + ',"msg":' + _quote(msg[:limit]) + "}"
        )
        return
    code_text = None

    stages = [("program", "<program>", program)]
    if setup_text:
        sources.append(("<setup>", setup_text))
        try:
            stages.append(("setup", "<setup>", compile(setup_text, "<setup>", "exec", dont_inherit=True)))
        except BaseException as e:
            send('{"k":"error","stage":"setup",' + _exception_fields(e, "<setup>", limit) + "}")
            _print_exception(stderr, e, sources)
            send('{"k":"done"}')
            return
    for stage, filename, code in stages:
        try:
            exec(code, namespace)
        except SystemExit as e:
            send('{"k":"exit","stage":"' + stage + '","code":"' + _exit_code(e) + '"}')
            return
        except BaseException as e:
            send('{"k":"error","stage":"' + stage + '",' + _exception_fields(e, filename, limit) + "}")
            _print_exception(stderr, e, sources)
            e = None
            send('{"k":"done"}')
            return
    program = stages = code = None
    send('{"k":"ran"}')

    for i in range(len(tests)):
        filename = "<test %d>" % i
        text = tests[i]
        try:
            exec(compile(text, filename, "exec", dont_inherit=True), namespace)
        except SystemExit as e:
            send('{"k":"test","i":' + str(i) + ',"st":"error",' + _exception_fields(e, filename, limit) + "}")
            send('{"k":"exit","stage":"test","code":"' + _exit_code(e) + '"}')
            return
        except BaseException as e:
            status = "failed" if issubclass(type(e), AssertionError) else "error"
            send('{"k":"test","i":' + str(i) + ',"st":"' + status + '",' + _exception_fields(e, filename, limit) + "}")
            sources.append((filename, text))
            _print_exception(stderr, e, sources)
            e = None
            if fail_fast:
                break
            continue
        send('{"k":"test","i":' + str(i) + ',"st":"passed"}')
    send('{"k":"done"}')
