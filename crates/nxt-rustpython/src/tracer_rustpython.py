
# ---------------------------------------------------------------------------------
# RustPython adaptations (crates/nxt-rustpython/src/tracer_rustpython.py), appended to
# nxt-trace's tracer.py when it runs inside the embedded RustPython engine. Everything
# above is CPython's tracer unchanged; this part replaces what relies on CPython's
# bytecode or on settrace behaviour RustPython 0.5.0 lacks (docs/engines.md):
#
# - return and yield events always carry None, and a frame's last instruction does not
#   tell a return from an exception unwind: the program is compiled from a rewritten
#   syntax tree in which `return X` is `return __nxt_return__(X)` and `yield X` is
#   `yield __nxt_yield__(X)` (same line numbers), so the values are handed over before
#   the event;
# - a `return` after a `break` gets no line event: `__nxt_return__` gives it the line
#   event it missed;
# - a loop whose body is on its header's line gets one line event, where CPython has
#   one per jump back: such bodies end with `__nxt_tick__()` (and `continue` is
#   preceded by it), which gives the line event of the jump back;
# - every event goes to the function given to settrace (a frame's own trace function
#   only decides whether the frame is traced): it dispatches them;
# - a resumed generator is told from a new call by its instruction offset.
#
# The markers are builtins (dunder names: never an entry) implemented here; their own
# frames are not traced.
import ast as _ast

_pending_return = {}  # id(frame) -> value being returned
_pending_yield = {}  # id(frame) -> value being yielded
_active = [None]  # the Recorder of this run


def _caller_state(frame):
    rec = _active[0]
    if rec is None or rec.stopped:
        return None, None
    return rec, rec.frames.get(id(frame))


def _catch_up(rec, st, frame):
    """The line event RustPython left out before a return or a loop's jump back."""
    line = frame.f_lineno
    if st.line != line:
        rec.local_trace(frame, "line", None)


def __nxt_return__(value):
    frame = _getframe(1)
    rec, st = _caller_state(frame)
    if st is not None:
        _catch_up(rec, st, frame)
        _pending_return[id(frame)] = value
    return value


def __nxt_yield__(value):
    frame = _getframe(1)
    rec, st = _caller_state(frame)
    if st is not None:
        _pending_yield[id(frame)] = value
    return value


def __nxt_tick__():
    frame = _getframe(1)
    rec, st = _caller_state(frame)
    if st is not None:
        rec.local_trace(frame, "line", None)


builtins.__nxt_return__ = __nxt_return__
builtins.__nxt_yield__ = __nxt_yield__
builtins.__nxt_tick__ = __nxt_tick__


def _rewrite(source, tree):
    """The source with the markers inserted (see the top of this part), on the same
    lines. RustPython 0.5.0 compiles a syntax tree with every instruction on line 1,
    so the rewrite is textual, at the byte offsets the tree gives (UTF-8, as
    CPython's)."""
    data = source.encode("utf-8", "surrogatepass")
    starts = [0]
    for i, b in enumerate(data):
        if b == 10:
            starts.append(i + 1)

    def at(line, col):
        return starts[line - 1] + col

    edits = []  # (offset, order, text): applied from the end

    # At one offset: closing parentheses first, then a tick, then opening ones.
    def wrap(node, value, name, keyword):
        if value is None:
            # a bare `return` or `yield`: after the keyword
            pos = at(node.lineno, node.col_offset) + len(keyword)
            edits.append((pos, 2, " " + name + "(None)"))
        else:
            edits.append((at(value.lineno, value.col_offset), 2, " " + name + "(("))
            edits.append((at(value.end_lineno, value.end_col_offset), 0, "))"))

    for node in _ast.walk(tree):
        if isinstance(node, _ast.Return):
            wrap(node, node.value, "__nxt_return__", "return")
        elif isinstance(node, _ast.Yield):
            wrap(node, node.value, "__nxt_yield__", "yield")
        elif isinstance(node, (_ast.For, _ast.While, _ast.AsyncFor)):
            body = node.body
            if body and body[0].lineno == node.lineno:
                for stmt in body:
                    if isinstance(stmt, _ast.Continue):
                        edits.append((at(stmt.lineno, stmt.col_offset), 2, "__nxt_tick__(); "))
                last = body[-1]
                pos = at(last.end_lineno, last.end_col_offset)
                # past a trailing `;`
                j = pos
                while j < len(data) and data[j] in b" \t":
                    j += 1
                if j < len(data) and data[j] == 59:
                    pos = j + 1
                edits.append((pos, 1, "; __nxt_tick__()"))
    edits.sort(key=lambda e: (e[0], e[1]))
    out = []
    prev = len(data)
    for pos, _, text in reversed(edits):
        out.append(data[pos:prev])
        out.append(text.encode())
        prev = pos
    out.append(data[:prev])
    return b"".join(reversed(out)).decode("utf-8", "surrogatepass")


def _compile(source, filename):
    try:
        tree = _ast.parse(source, filename, "exec")
    except SyntaxError as e:
        return None, {"message": e.msg or "invalid syntax", "line": e.lineno or 1, "column": e.offset or 1}
    except ValueError as e:
        return None, {"message": str(e), "line": 1, "column": 1}
    try:
        rewritten = _rewrite(source, tree)
        code = compile(rewritten, filename, "exec", dont_inherit=True)
        # instruction positions are those of the rewritten source
        _map_comprehensions(_ast.parse(rewritten, filename, "exec"), code)
    except SyntaxError as e:
        return None, {"message": e.msg or "invalid syntax", "line": e.lineno or 1, "column": e.offset or 1}
    return code, None


# Inlined comprehensions. RustPython runs list, set and dict comprehensions in the
# frame of the function that contains them (PEP 709), where CPython 3.11 gives them a
# frame of their own, which is not traced: their variables then show in the
# function's locals, and the lines of their bodies give the function line events.
# For each traced code object: the names bound only by its comprehensions (left out
# of its steps) and the instructions that run inside them (their line events are
# dropped: CPython 3.11 gives none, and the function's locals then show the
# comprehension's variables, also those that shadow the function's own).
_comp_names = {}  # id(code) -> frozenset of names
_comp_inside = {}  # id(code) -> frozenset of instruction indices
_INLINED = (_ast.ListComp, _ast.SetComp, _ast.DictComp)
_SCOPES = (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef, _ast.Lambda, _ast.GeneratorExp)


def _targets(node, out):
    for n in _ast.walk(node):
        if isinstance(n, _ast.Name):
            out.add(n.id)


def _scope_facts(scope):
    """(names bound only by inlined comprehensions, [(comprehension, its first
    iterable)] of the outermost inlined comprehensions)."""
    comp_names, bound, inner_lines, own_lines = set(), set(), set(), set()
    comps = []
    args = getattr(scope, "args", None)
    if args is not None:
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None:
                bound.add(a.arg)

    def visit(node, inside):
        if isinstance(node, _INLINED):
            if not inside:
                own_lines.add(node.lineno)
                comps.append((node, node.generators[0].iter))
            gens = node.generators
            for i, g in enumerate(gens):
                _targets(g.target, comp_names)
                visit(g.iter, inside or i > 0)
                visit(g.target, True)
                for cond in g.ifs:
                    visit(cond, True)
            for part in ("elt", "key", "value"):
                sub = getattr(node, part, None)
                if sub is not None:
                    visit(sub, True)
            return
        if isinstance(node, _SCOPES) and node is not scope:
            # a nested scope: its name (and decorators, defaults) belong here
            if not isinstance(node, (_ast.Lambda, _ast.GeneratorExp)):
                bound.add(node.name)
            if hasattr(node, "lineno"):
                (inner_lines if inside else own_lines).add(node.lineno)
            if isinstance(node, _ast.GeneratorExp):
                visit(node.generators[0].iter, inside)
            return
        if isinstance(node, _ast.Name) and isinstance(node.ctx, (_ast.Store, _ast.Del)) and not inside:
            bound.add(node.id)
        elif isinstance(node, _ast.NamedExpr):
            _targets(node.target, bound)
        elif isinstance(node, (_ast.Import, _ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, _ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (_ast.Global, _ast.Nonlocal)):
            bound.update(node.names)
        if hasattr(node, "lineno"):
            if inside:
                inner_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            else:
                own_lines.add(node.lineno)
        for child in _ast.iter_child_nodes(node):
            visit(child, inside)

    for child in (scope.body if not isinstance(scope, _ast.Lambda) else []):
        visit(child, False)
    return frozenset(comp_names - bound), comps


def _within(pos, node):
    line, end_line, col, end_col = pos
    if line is None or col is None or end_line is None or end_col is None:
        return False
    return (line, col) >= (node.lineno, node.col_offset) and (end_line, end_col) <= (
        node.end_lineno,
        node.end_col_offset,
    )


def _inside(code, comps):
    """The instructions of `code` that run inside its inlined comprehensions: from
    the first one after the first iterable's evaluation to the comprehension's last."""
    if not comps:
        return frozenset()
    positions = list(code.co_positions())
    out = set()
    for comp, first_iter in comps:
        idx = [i for i, p in enumerate(positions) if _within(p, comp)]
        if not idx:
            continue
        i, hi = idx[0], idx[-1]
        while i <= hi and _within(positions[i], first_iter):
            i += 1
        lines = range(comp.lineno, comp.end_lineno + 1)
        out.update(j for j in range(i, hi + 1) if positions[j][0] in lines)
    return frozenset(out)


def _map_comprehensions(tree, code):
    _comp_names.clear()
    _comp_inside.clear()
    facts = {("<module>", 1): _scope_facts(tree)}
    for node in _ast.walk(tree):
        if isinstance(node, (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)):
            f = _scope_facts(node)
            facts[(node.name, node.lineno)] = f
            if node.decorator_list:
                facts[(node.name, node.decorator_list[0].lineno)] = f
    stack = [code]
    while stack:
        c = stack.pop()
        key = ("<module>", 1) if c is code else (c.co_name, c.co_firstlineno)
        f = facts.get(key)
        if f is not None and (f[0] or f[1]):
            _comp_names[id(c)] = f[0]
            _comp_inside[id(c)] = _inside(c, f[1])
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)


def _enter(self, frame, code):
    key = id(frame)
    st = self.frames.get(key)
    # A resumed generator's frame is past its first instruction.
    resumed = frame.f_lasti > 0
    if st is not None and resumed:
        return
    _active[0] = self
    if code is self.module_code:
        kind = _MODULE
    elif code.co_flags & _CO_OPTIMIZED:
        kind = _FUNCTION
    else:
        kind = _CLASS
    st = _Frame(self.next_fid, kind)
    self.next_fid += 1
    self.frames[key] = st
    _pending_return.pop(key, None)
    _pending_yield.pop(key, None)
    if kind != _FUNCTION:
        return
    if resumed:
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
    rest = self.changes(st, frame)
    if rest:
        items.extend(rest)
    if items:
        self.emit(code.co_firstlineno, "c", st, items)


def _leave(self, st, frame, arg):
    key = id(frame)
    items = self.changes(st, frame)
    line = self.line_of(frame, st)
    if key in _pending_yield and not st.after_exc:
        items.append(["__yield__", self.wire(render(_pending_yield.pop(key)))])
        _pending_return.pop(key, None)
        self.emit(line, "y", st, items)
        return  # suspended: the frame lives on
    _pending_yield.pop(key, None)
    del self.frames[key]
    returned = key in _pending_return
    value = _pending_return.pop(key, None)
    # A value handed over and no exception since: a return. None handed over: an
    # implicit `return None`, unless an exception is leaving the frame (its
    # exception event came last).
    if st.kind == _FUNCTION and (returned or not st.after_exc):
        items.append(["__return__", self.wire(render(value))])
        self.emit(line, "r", st, items)
    elif items:
        self.emit(line, "l", st, items)


_local_trace = Recorder.local_trace


def _local_trace_rp(self, frame, event, arg):
    if event == "exception":
        # An exception after the value was handed over: the return did not happen
        # (a `finally` raised), unless a later return hands a value over again.
        _pending_return.pop(id(frame), None)
    return _local_trace(self, frame, event, arg)


Recorder.local_trace = _local_trace_rp
_global_trace = Recorder.global_trace


def _dispatch(self, frame, event, arg):
    # RustPython calls the function given to settrace for every event (a frame's own
    # trace function only decides whether its frame is traced): route them here.
    if event == "call":
        return _global_trace(self, frame, event, arg)
    if event == "line":
        inside = _comp_inside.get(id(frame.f_code))
        # (f_lasti is past the instruction about to run, in bytes)
        if inside and frame.f_lasti // 2 - 1 in inside:
            return self.local_trace  # inside an inlined comprehension
    return _local_trace_rp(self, frame, event, arg)


Recorder.global_trace = _dispatch
_changes = Recorder.changes


def _changes_rp(self, st, frame):
    items = _changes(self, st, frame)
    hidden = _comp_names.get(id(frame.f_code))
    if hidden and items:
        items = [item for item in items if item[0] not in hidden]
    return items


Recorder.changes = _changes_rp
Recorder.enter = _enter
Recorder.leave = _leave
