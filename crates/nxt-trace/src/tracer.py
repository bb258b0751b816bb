# nxt tracer: runs one Python program under sys.settrace and streams its steps.
#
# This file is part of the nxt-trace crate (embedded with include_str!) and is loaded
# as the harness of an nxt-sandbox worker: the worker imports it once, then calls
# main(payload) in a fresh forked child per program. It implements sections 1-3 of
# shared/spec/inline-trace-format.md: which frames are traced, how execution is cut
# into steps, and how values are rendered. Placement on lines, compression and
# truncation are the Rust formatter's job (nxt-inline).
#
# Wire format (fd 3, one JSON document per line, written as it goes so that a killed
# run keeps every step it recorded):
#   {"start": 1}                                   first line, once the program compiled
#   [line, "c"|"l"|"r"|"y"|"e", frame, [[name, value], ...]]   one step
#       value: str (rendering) | null (deleted) | {"head", "tail", "chars"} (clipped)
#   {"syntax_error": {"message", "line", "column"}}   the program does not compile
#   {"end": "steps"|"tracer_error"|"memory", "message": str}   recording stopped early
#   {"done": 1, "exception": repr|null, "exit_code": int}       the program finished
import builtins
import dis
import json
import linecache
import operator
import os
import random
import re
import sys
import traceback
import types

_settrace = sys.settrace
_gettrace = sys.gettrace
_getframe = sys._getframe
try:  # one C encoder for every step (json.dumps builds a new one per call)
    from json.encoder import c_make_encoder as _c_make_encoder, encode_basestring as _ebs

    _c_encode = _c_make_encoder(None, None, _ebs, None, ":", ",", False, False, True)

    def _dumps(obj):
        return "".join(_c_encode(obj, 0))
except (ImportError, TypeError):  # no C accelerator: the pure-Python encoder
    _dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_write = os.write

_RESUME = dis.opmap.get("RESUME")
_RETURNS = frozenset(dis.opmap[n] for n in ("RETURN_VALUE", "RETURN_CONST") if n in dis.opmap)
_YIELD = dis.opmap["YIELD_VALUE"]
_CO_OPTIMIZED = 0x0001
_CO_VARARGS = 0x0004
_CO_VARKEYWORDS = 0x0008

# Frames of these code objects are not traced: their effect shows on the line that
# contains them (spec section 1).
_UNTRACED_NAMES = frozenset(("<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>", "<lambda>"))

# Values of these kinds never produce an entry (spec section 1).
_LEFT_OUT = (
    types.ModuleType,
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodDescriptorType,
    staticmethod,
    classmethod,
)
# Exact types whose value cannot change while the object lives: unchanged identity
# means an unchanged rendering, so no repr() is needed. Holding a reference to them
# has no effect the program can observe.
_IMMUTABLE = frozenset((int, float, complex, str, bytes, bool, type(None)))
_CONTAINERS = frozenset((list, dict, set, frozenset, tuple))
_object_repr = object.__repr__
_is = operator.is_
# Containers shorter than this are simply rendered again (cheaper than a snapshot).
_SHALLOW_MIN = 16

_ADDR_OBJECT = re.compile(r"<(?:(?:\w+|<locals>)\.)*(\w+) object at 0x[0-9a-fA-F]+>")
_ADDR_OTHER = re.compile(r" at 0x[0-9a-fA-F]+(?=>)")
_LINEBREAKS = re.compile("[\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_ESCAPES = {
    0x00: "\\x00", 0x0A: "\\n", 0x0D: "\\r", 0x0B: "\\x0b", 0x0C: "\\x0c",
    0x1C: "\\x1c", 0x1D: "\\x1d", 0x1E: "\\x1e", 0x85: "\\x85",
    0x2028: "\\u2028", 0x2029: "\\u2029",
}

_MODULE, _CLASS, _FUNCTION = 0, 1, 2


class _Stop(Exception):
    """Raised inside the tracer to stop recording (limit reached or tracer failure)."""


class _Frame:
    __slots__ = ("fid", "kind", "snap", "order", "skipped", "line", "after_exc")

    def __init__(self, fid, kind):
        self.fid = fid
        self.kind = kind
        # name -> (object or None, rendering, shallow snapshot or None): the object is
        # kept for exact immutable scalars (identity = same rendering) and for
        # containers with a shallow snapshot (see _shallow).
        self.snap = {}
        self.order = {}  # name -> position of first appearance
        self.skipped = {}  # name -> the left-out object it was last seen bound to
        self.line = None  # the line executing now (set by line events)
        self.after_exc = False  # the last event in this frame was an exception


def _strip_addresses(s):
    """`<mod.Name object at 0x..>` becomes `<Name object>`; any other ` at 0x..` before
    a `>` goes."""
    return _ADDR_OTHER.sub("", _ADDR_OBJECT.sub(r"<\1 object>", s))


def render(v):
    """A value's rendering: repr() with the spec's substitutions and escapes."""
    t = type(v)
    if t in _IMMUTABLE:
        # The repr of these exact types never holds a raw line break (str and bytes
        # escape every character at which a line could split); only text can hold an
        # address, e.g. a string made with repr(obj).
        s = repr(v)
        if (t is str or t is bytes) and " at 0x" in s:
            s = _strip_addresses(s)
        return s
    try:
        if t.__repr__ is _object_repr:
            return "<" + t.__name__ + " object>"
        s = repr(v)
    except RecursionError:
        if _near_recursion_limit():
            raise
        return "<unrepresentable " + t.__name__ + ">"
    except Exception:
        return "<unrepresentable " + t.__name__ + ">"
    if " at 0x" in s:
        s = _strip_addresses(s)
    if _LINEBREAKS.search(s) is not None:
        s = s.translate(_ESCAPES)
    return s


def _atomic_items(items):
    """Whether every item is an exact immutable scalar, or a tuple of them: a value
    whose rendering cannot change while the same object stays in place."""
    types_ = set(map(type, items))
    if types_ <= _IMMUTABLE:
        return True
    if not (types_ - _IMMUTABLE) == {tuple}:
        return False
    for item in items:
        if type(item) is tuple and not set(map(type, item)) <= _IMMUTABLE:
            return False
    return True


def _shallow(v):
    """A snapshot of a large exact list, dict, set or tuple of atomic items, such that
    `_unchanged(v, snapshot)` proves the rendering did not change; None otherwise."""
    t = type(v)
    if len(v) < _SHALLOW_MIN:
        return None
    if t is list or t is set or t is frozenset:
        items = list(v)
        return items if _atomic_items(items) else None
    if t is dict:
        keys = list(v)
        values = list(v.values())
        return (keys, values) if _atomic_items(keys) and _atomic_items(values) else None
    if t is tuple:
        return () if _atomic_items(v) else None
    return None


def _unchanged(v, snapshot):
    t = type(v)
    if t is tuple:
        return True  # same object, atomic items: immutable
    if t is dict:
        keys, values = snapshot
        return (
            len(v) == len(keys)
            and all(map(_is, v, keys))
            and all(map(_is, v.values(), values))
        )
    return len(v) == len(snapshot) and all(map(_is, v, snapshot))


def _appended(v, items, rendering):
    """For a list whose snapshot `items` is an unchanged prefix and whose new items are
    atomic: its new rendering, built from the previous one, and the extended snapshot
    (the same list object, extended). None when the list changed otherwise."""
    n = len(items)
    if len(v) <= n or not all(map(_is, v[:n], items)):
        return None
    new = v[n:]
    if not _atomic_items(new):
        return None
    items.extend(new)
    # repr(list) is "[" + ", ".join(map(repr, items)) + "]" for atomic items.
    return rendering[:-1] + ", " + ", ".join(map(repr, new)) + "]", items


def _near_recursion_limit():
    depth = 0
    f = _getframe()
    while f is not None:
        depth += 1
        f = f.f_back
    return depth + 50 >= sys.getrecursionlimit()


def _arg_names(code):
    """Arguments in signature order: positional, *args, keyword-only, **kwargs."""
    names = code.co_varnames
    n = code.co_argcount
    k = code.co_kwonlyargcount
    out = list(names[:n])
    i = n + k
    if code.co_flags & _CO_VARARGS:
        out.append(names[i])
        i += 1
    out.extend(names[n : n + k])
    if code.co_flags & _CO_VARKEYWORDS:
        out.append(names[i])
    out.extend(code.co_freevars)
    return tuple(out)


def _program_codes(code):
    """ids of the code objects whose frames are traced: the module and every function
    and class body defined in it, but not comprehensions and lambdas."""
    ids = set()
    stack = [code]
    while stack:
        c = stack.pop()
        if c.co_name not in _UNTRACED_NAMES or c is code:
            ids.add(id(c))
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
    return ids


class Recorder:
    """Cuts one run into steps and writes them to a file descriptor."""

    def __init__(self, fd, module_code, max_steps, capture_chars):
        self.fd = fd
        self.module_code = module_code
        self.codes = _program_codes(module_code)
        self.max_steps = max_steps
        self.half = max(capture_chars, 10) // 2
        self.capture = self.half * 2
        self.steps = 0
        self.frames = {}  # id(frame) -> _Frame
        self.next_fid = 0
        self.arg_names = {}  # id(code) -> argument names
        self.stopped = False

    # -- output -------------------------------------------------------------------

    def send(self, obj):
        data = (_dumps(obj) + "\n").encode("utf-8", "surrogatepass")
        n = _write(self.fd, data)
        if n < len(data):  # a partial write (a signal, a full pipe): finish it
            view = memoryview(data)[n:]
            while view:
                view = view[_write(self.fd, view):]

    def wire(self, rendering):
        if len(rendering) <= self.capture:
            return rendering
        return {"head": rendering[: self.half], "tail": rendering[-self.half :], "chars": len(rendering)}

    def emit(self, line, event, st, items):
        if self.steps >= self.max_steps:
            self.stop("steps", "step limit of %d reached" % self.max_steps)
        self.steps += 1
        self.send([line, event, st.fid, items])

    def stop(self, why, message):
        """Ends recording for good: the program runs on untraced."""
        if not self.stopped:
            self.stopped = True
            self.send({"end": why, "message": message})
        _settrace(None)
        f = _getframe()
        while f is not None:
            f.f_trace = None
            f = f.f_back
        raise _Stop(why)

    # -- change detection -----------------------------------------------------------

    def changes(self, st, frame):
        """The variables of `frame` that are new, rebound, mutated or deleted since
        its previous step, in the frame's order, as wire items."""
        snap = st.snap
        out = None
        present = 0
        for name, v in frame.f_locals.items():
            prev = snap.get(name)
            if prev is not None:
                present += 1
                if prev[0] is v:
                    # The same object: an immutable scalar (no snapshot needed) or a
                    # container whose shallow snapshot proves it unchanged.
                    shallow = prev[2]
                    if shallow is None or _unchanged(v, shallow):
                        continue
                    if type(v) is list:
                        grown = _appended(v, shallow, prev[1])
                        if grown is not None:
                            snap[name] = (v, grown[0], grown[1])
                            if out is None:
                                out = []
                            out.append((name, grown[0]))
                            continue
            else:
                if name[0] == "_" and name[:2] == "__" and name[-2:] == "__" and len(name) > 4:
                    continue  # dunder names never produce an entry
                if st.skipped.get(name) is v:
                    continue  # still bound to the same left-out object
            t = type(v)
            if t in _IMMUTABLE:
                r = render(v)
                snap[name] = (v, r, None)
            else:
                if isinstance(v, _LEFT_OUT):
                    st.skipped[name] = v
                    if prev is not None:
                        present -= 1
                        del snap[name]  # silently leaves the snapshot
                    continue
                r = render(v)
                shallow = _shallow(v) if t in _CONTAINERS else None
                snap[name] = (v if shallow is not None else None, r, shallow)
            if prev is not None and prev[1] == r:
                continue
            if out is None:
                out = []
            out.append((name, r))
        if present < len(snap):
            loc = frame.f_locals
            for name in [n for n in snap if n not in loc]:
                del snap[name]
                if out is None:
                    out = []
                out.append((name, None))
        if out is None:
            return []
        order = st.order
        for name, _ in out:
            if name not in order:
                order[name] = len(order)
        if len(out) > 1:
            out.sort(key=lambda item: order[item[0]])
        capture = self.capture
        return [
            [n, r if r is None or len(r) <= capture else self.wire(r)] for n, r in out
        ]

    # -- trace functions ------------------------------------------------------------

    def global_trace(self, frame, event, arg):
        code = frame.f_code
        if self.stopped or id(code) not in self.codes:
            return None
        try:
            self.enter(frame, code)
        except _Stop:
            return None
        except MemoryError:
            self.fail("memory", "MemoryError inside the tracer")
            return None
        except BaseException as e:  # the tracer must never break the program
            self.fail("tracer_error", "%s: %s" % (type(e).__name__, e))
            return None
        return self.local_trace

    def enter(self, frame, code):
        key = id(frame)
        st = self.frames.get(key)
        resumed = False
        if _RESUME is not None and frame.f_lasti >= 0:
            co = code.co_code
            if co[frame.f_lasti] == _RESUME:
                resumed = co[frame.f_lasti + 1] != 0
        if st is not None and (resumed or _RESUME is None):
            return  # a resumed generator or coroutine is not a new call
        if code is self.module_code:
            kind = _MODULE
        elif code.co_flags & _CO_OPTIMIZED:
            kind = _FUNCTION
        else:
            kind = _CLASS
        st = _Frame(self.next_fid, kind)
        self.next_fid += 1
        self.frames[key] = st
        if kind != _FUNCTION:
            return
        if resumed:
            # Seen mid-way (cannot happen for frames started while tracing); take its
            # variables as known without recording an entry step.
            self.changes(st, frame)
            return
        names = self.arg_names.get(id(code))
        if names is None:
            names = self.arg_names[id(code)] = _arg_names(code)
        loc = frame.f_locals
        snap = st.snap
        order = st.order
        items = []
        for name in names:
            if name not in loc:
                continue
            v = loc[name]
            t = type(v)
            if t not in _IMMUTABLE and isinstance(v, _LEFT_OUT):
                continue
            r = render(v)
            shallow = _shallow(v) if t in _CONTAINERS else None
            snap[name] = (v if t in _IMMUTABLE or shallow is not None else None, r, shallow)
            order[name] = len(order)
            items.append([name, self.wire(r)])
        # Anything else the frame holds at entry (cannot happen in CPython 3.11, but
        # keeps later steps' change detection honest).
        rest = self.changes(st, frame)
        if rest:
            items.extend(rest)
        if items:
            self.emit(code.co_firstlineno, "c", st, items)

    def local_trace(self, frame, event, arg):
        if self.stopped:
            return None
        try:
            st = self.frames.get(id(frame))
            if st is None:
                return None
            if event == "line":
                if st.line is not None:
                    items = self.changes(st, frame)
                    if items:
                        self.emit(st.line, "l", st, items)
                st.line = frame.f_lineno
                st.after_exc = False
            elif event == "return":
                self.leave(st, frame, arg)
            elif event == "exception":
                items = self.changes(st, frame)
                exc_type, exc, _tb = arg
                event_code = "l"
                if not issubclass(exc_type, (StopIteration, GeneratorExit)):
                    items.append(["__exception__", self.wire(render(exc if exc is not None else exc_type()))])
                    event_code = "e"
                if items:
                    self.emit(self.line_of(frame, st), event_code, st, items)
                st.after_exc = True
            return self.local_trace
        except _Stop:
            return None
        except MemoryError:
            self.fail("memory", "MemoryError inside the tracer")
            return None
        except BaseException as e:
            self.fail("tracer_error", "%s: %s" % (type(e).__name__, e))
            return None

    def leave(self, st, frame, arg):
        code = frame.f_code
        op = code.co_code[frame.f_lasti] if frame.f_lasti >= 0 else None
        items = self.changes(st, frame)
        line = self.line_of(frame, st)
        if op == _YIELD and not st.after_exc:
            items.append(["__yield__", self.wire(render(arg))])
            self.emit(line, "y", st, items)
            return  # suspended: the frame lives on
        del self.frames[id(frame)]
        if op in _RETURNS and st.kind == _FUNCTION:
            items.append(["__return__", self.wire(render(arg))])
            self.emit(line, "r", st, items)
        elif items:
            self.emit(line, "l", st, items)

    @staticmethod
    def line_of(frame, st):
        line = frame.f_lineno
        if line is None:
            line = st.line if st.line is not None else frame.f_code.co_firstlineno
        return line

    def fail(self, why, message):
        try:
            self.stop(why, message)
        except _Stop:
            pass


def _compile(source, filename):
    try:
        return compile(source, filename, "exec", dont_inherit=True), None
    except SyntaxError as e:
        return None, {"message": e.msg or "invalid syntax", "line": e.lineno or 1, "column": e.offset or 1}
    except ValueError as e:  # e.g. "source code string cannot contain null bytes"
        return None, {"message": str(e), "line": 1, "column": 1}


def main(payload, fd=3):
    """Runs the program described by `payload` (JSON: source, filename, max_steps,
    capture_chars) under the recorder, writing the wire format to `fd`."""
    request = json.loads(payload)
    source = request["source"]
    filename = request.get("filename") or "<program>"
    code, error = _compile(source, filename)
    if code is None:
        rec = Recorder.__new__(Recorder)
        rec.fd = fd
        rec.send({"syntax_error": error})
        raise SystemExit(2)
    rec = Recorder(fd, code, int(request.get("max_steps", 10000)), int(request.get("capture_chars", 8192)))
    rec.send({"start": 1})
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {
        "__name__": "__main__",
        "__doc__": None,
        "__package__": None,
        "__loader__": None,
        "__spec__": None,
        "__file__": filename,
        "__builtins__": builtins,
    }
    sys.argv = [filename]
    # Determinism (docs/tracer.md): the string hash seed is fixed by the worker's
    # PYTHONHASHSEED=0; the `random` module is seeded here, so unseeded programs draw
    # the same numbers on every run.
    random.seed(0)
    exception = None
    exit_code = 0
    _settrace(rec.global_trace)
    try:
        exec(code, namespace)
    except SystemExit as e:
        _settrace(None)
        c = e.code
        exit_code = c if isinstance(c, int) else (0 if c is None else 1)
        if c is not None and not isinstance(c, int):
            print(c, file=sys.stderr)
    except BaseException as e:
        _settrace(None)
        exception = render(e)
        exit_code = 1
        if isinstance(e, MemoryError) and not rec.stopped:
            rec.stopped = True
            rec.send({"end": "memory", "message": "MemoryError escaped the program"})
        # Print the traceback as Python would, without the harness's own frame.
        try:
            traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        except BaseException:
            pass
    finally:
        _settrace(None)
    try:
        sys.stdout.flush()
    except BaseException:
        pass
    rec.send({"done": 1, "exception": exception, "exit_code": exit_code})
    raise SystemExit(exit_code)


if __name__ == "__main__":
    # Debugging aid: python3 tracer.py PROGRAM.py  (steps on stdout)
    with open(sys.argv[1], encoding="utf-8", newline="") as fh:
        text = fh.read()
    main(json.dumps({"source": text, "filename": sys.argv[1]}).encode(), fd=1)
