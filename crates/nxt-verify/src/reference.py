# nxt reference runner: runs a trusted reference program on many inputs and reports,
# for each, what the call returned (as the caller's encoder describes it) and how long
# it took, or how it failed. evalplus's ground truth, computed in the sandbox.
#
# This file is part of the nxt-verify crate (embedded with include_str!) and is loaded
# as the harness of an nxt-sandbox worker; see src/reference.rs and
# docs/benchmarks-data.md.
#
# Payload: "NXTR1\n", then fields, each as its length in bytes (ASCII decimal), "\n"
# and its UTF-8 bytes: the per-input time limit in seconds (decimal; "0" for none), the
# program, the entry point, the encoder (source that defines encode(value) -> a dict of
# JSON values), then one field per input: the call's arguments as Python source
# ("[1, 2], 3").
#
# Channel (fd 3): one line per message, SECRET " " JSON "\n" (just JSON "\n" when the
# sandbox gives no secret):
#     {"k":"start"}
#     {"k":"error","stage":"encoder"|"program"|"entry_point","exc","msg"}   then the end
#     {"k":"input","i":n,"ok":true,"t":seconds,"v":{...encode(output)...}}
#     {"k":"input","i":n,"ok":false,"why":"raised"|"timeout"|"arguments"|"encode",
#      "exc","msg","t"}
#     {"k":"done"}
# The reference is trusted: nothing here defends against it.

import builtins as _builtins_module
import json as _json
import os as _os
import random as _random
import signal as _signal
import sys as _sys
import time as _time
import types as _types

_MESSAGE_CHARS = 500


class _InputTimeout(BaseException):
    pass


def _split_payload(payload):
    if payload[:6] != b"NXTR1\n":
        raise ValueError("not an nxt reference-runner payload")
    out = []
    pos = 6
    end = len(payload)
    while pos < end:
        nl = payload.index(b"\n", pos)
        start = nl + 1
        pos = start + int(payload[pos:nl])
        out.append(payload[start:pos].decode("utf-8"))
    return out


def _describe(exc):
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    return type(exc).__name__, text


def main(payload, secret=None):
    fields = _split_payload(payload)
    limit = float(fields[0])
    program, entry_point, encoder = fields[1], fields[2], fields[3]
    calls = fields[4:]
    prefix = (secret + " ") if secret else ""

    def send(message):
        data = (prefix + _json.dumps(message, ensure_ascii=True) + "\n").encode("ascii")
        while data:
            data = data[_os.write(3, data):]

    send({"k": "start"})

    encoder_ns = {"__name__": "nxt_encoder"}
    try:
        exec(compile(encoder, "<encoder>", "exec"), encoder_ns)
        encode = encoder_ns["encode"]
    except BaseException as e:
        exc, msg = _describe(e)
        send({"k": "error", "stage": "encoder", "exc": exc, "msg": msg})
        return

    # The program runs as the verification harness runs it: a fresh __main__, random
    # seeded with 0 (and PYTHONHASHSEED=0 in the worker).
    _random.seed(0)
    module = _types.ModuleType("__main__")
    module.__dict__["__builtins__"] = _builtins_module
    namespace = module.__dict__
    _sys.modules["__main__"] = module
    try:
        exec(compile(program, "<program>", "exec", dont_inherit=True), namespace)
    except BaseException as e:
        exc, msg = _describe(e)
        send({"k": "error", "stage": "program", "exc": exc, "msg": msg})
        return
    fn = namespace.get(entry_point)
    if not callable(fn):
        send({"k": "error", "stage": "entry_point", "exc": "NameError",
              "msg": "the program defines no function %r" % entry_point})
        return

    def alarm(signum, frame):
        raise _InputTimeout()

    clock = _time.perf_counter
    for i, call in enumerate(calls):
        try:
            args = eval(compile("[" + call + "]", "<input %d>" % i, "eval", dont_inherit=True),
                        {"__builtins__": _builtins_module})
        except BaseException as e:
            exc, msg = _describe(e)
            send({"k": "input", "i": i, "ok": False, "why": "arguments", "exc": exc,
                  "msg": msg, "t": 0.0})
            continue
        if limit > 0:
            _signal.signal(_signal.SIGALRM, alarm)
            _signal.setitimer(_signal.ITIMER_REAL, limit)
        start = clock()
        try:
            try:
                value = fn(*args)
            finally:
                elapsed = clock() - start
                if limit > 0:
                    _signal.setitimer(_signal.ITIMER_REAL, 0)
        except _InputTimeout:
            send({"k": "input", "i": i, "ok": False, "why": "timeout", "exc": "",
                  "msg": "", "t": elapsed})
            continue
        except BaseException as e:
            exc, msg = _describe(e)
            send({"k": "input", "i": i, "ok": False, "why": "raised", "exc": exc,
                  "msg": msg, "t": elapsed})
            continue
        args = None
        try:
            encoded = encode(value)
        except BaseException as e:
            exc, msg = _describe(e)
            send({"k": "input", "i": i, "ok": False, "why": "encode", "exc": exc,
                  "msg": msg, "t": elapsed})
            continue
        value = None
        send({"k": "input", "i": i, "ok": True, "t": elapsed, "v": encoded})
    send({"k": "done"})
