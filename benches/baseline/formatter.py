#!/usr/bin/env python3
"""Peer baseline for the nxt inline formatter: the same rendering in plain Python.

This is the obvious way a script would write an nxt trace (trace JSON, docs/trace-json.md)
back into its source as NExT inline comments (shared/spec/inline-trace-format.md,
sections 3-6): the standard library's `ast` finds the statements, `tokenize` finds where
their logical lines end and where the `:` of each header is, and the comments are
appended line by line. It is written to give byte-identical output to nxt_inline for
valid traces of valid programs, not to be clever.

    python3 formatter.py PROGRAM.py TRACE.json [--out FILE] [--seconds S]
        [--keep-first 2] [--keep-last 1] [--max-value-chars 100]

Writes the rendering to --out (or stdout), then, with --seconds S > 0, renders in a loop
for at least S seconds (and at least 5 times), timing the parse (anchor lines) and the
rendering separately, and prints `key=value` lines: parse_seconds, render_seconds and
total_seconds (medians per iteration) and iterations. The trace JSON is loaded once,
outside the timed loop (the Rust benchmark times Layout::render on a parsed Trace too).
"""

import argparse
import ast
import bisect
import io
import json
import re
import statistics
import sys
import time
import tokenize

# -- parse: anchor lines -----------------------------------------------------------------

_PHYSICAL_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n)|([^\r\n]+)$")


def physical_lines(source):
    """(content, terminator) per physical line: lines end only at \\n, \\r\\n, \\r."""
    out = []
    for m in _PHYSICAL_LINE.finditer(source):
        if m.group(3) is not None:
            out.append((m.group(3), ""))
        else:
            out.append((m.group(1), m.group(2)))
    return out


class Layout:
    """A source parsed once: its lines and, per line, the 0-based anchor line (or None)."""

    def __init__(self, source):
        self.source = source
        self.lines = physical_lines(source)
        self.newline = next((t for _, t in self.lines if t), "\n")
        tree = ast.parse(source)
        self.tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(source, newline=None).readline)
            # Comments, blank lines and indentation never anchor anything.
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
        ]
        self.starts = [t.start for t in self.tokens]
        # (depth, anchor) per line; depth 0 = no statement yet.
        self.owners = [(0, None)] * len(self.lines)
        self.suite(tree.body, 1)
        self.anchors = [a for _, a in self.owners]
        del self.tokens, self.starts, self.owners

    # Positions are (1-based row, column in characters), as tokenize reports them; ast
    # columns are UTF-8 byte offsets, converted here.
    def pos(self, row, byte_col):
        text = self.lines[row - 1][0] if row <= len(self.lines) else ""
        if text.isascii():
            return (row, byte_col)
        return (row, len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace")))

    def start(self, node):
        if getattr(node, "decorator_list", None):
            first = node.decorator_list[0]
            # The decorator expression starts after its `@`.
            return self.token_before(self.pos(first.lineno, first.col_offset), "@")
        return self.pos(node.lineno, node.col_offset)

    def end(self, node):
        return self.pos(node.end_lineno, node.end_col_offset)

    def token_before(self, position, string):
        """The start of the last token spelled `string` before `position`."""
        i = bisect.bisect_left(self.starts, position)
        for t in reversed(self.tokens[:i]):
            if t.string == string:
                return t.start
        return position

    def logical_end(self, position):
        """0-based line where the logical line holding `position` ends."""
        i = bisect.bisect_left(self.starts, position)
        for t in self.tokens[i:]:
            if t.type == tokenize.NEWLINE:
                return t.start[0] - 1
        return (self.tokens[i - 1].end[0] if i else position[0]) - 1

    def cover(self, start, end, depth, anchor):
        for line in range(start[0] - 1, min(end[0], len(self.owners))):
            if self.owners[line][0] < depth:
                self.owners[line] = (depth, anchor)

    def header(self, start, end, body_start, depth):
        """Covers start..end, anchored at the logical end of the last `:` before
        body_start."""
        i = bisect.bisect_left(self.starts, body_start)
        anchor = start[0] - 1
        for t in reversed(self.tokens[:i]):
            if t.type == tokenize.OP and t.string == ":":
                anchor = self.logical_end(t.start)
                break
        self.cover(start, end, depth, anchor)

    def compound(self, start, end, body, depth):
        self.header(start, end, self.start(body[0]) if body else end, depth)
        self.suite(body, depth + 1)

    def keyword_clause(self, keyword, body, depth):
        """`else` / `finally`: no node of their own; they start at the keyword."""
        if not body:
            return
        first = self.start(body[0])
        self.compound(self.token_before(first, keyword), self.end(body[-1]), body, depth)

    def suite(self, body, depth):
        for stmt in body:
            self.stmt(stmt, depth)

    def stmt(self, s, depth):
        start, end = self.start(s), self.end(s)
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.With, ast.AsyncWith)):
            self.compound(start, end, s.body, depth)
        elif isinstance(s, (ast.For, ast.AsyncFor, ast.While)):
            self.compound(start, end, s.body, depth)
            self.keyword_clause("else", s.orelse, depth + 1)
        elif isinstance(s, ast.If):
            self.compound(start, end, s.body, depth)
            orelse = s.orelse
            # `elif` is an If inside orelse; make it a clause of its own, as `else` is.
            while len(orelse) == 1 and isinstance(orelse[0], ast.If) and self.is_elif(orelse[0]):
                clause = orelse[0]
                self.compound(self.start(clause), self.end(clause.body[-1]), clause.body, depth + 1)
                orelse = clause.orelse
            self.keyword_clause("else", orelse, depth + 1)
        elif isinstance(s, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.compound(start, end, s.body, depth)
            for h in s.handlers:
                self.compound(self.start(h), self.end(h), h.body, depth + 1)
            self.keyword_clause("else", s.orelse, depth + 1)
            self.keyword_clause("finally", s.finalbody, depth + 1)
        elif isinstance(s, ast.Match):
            first_case = self.case_start(s.cases[0]) if s.cases else end
            self.header(start, end, first_case, depth)
            for case in s.cases:
                self.compound(self.case_start(case), self.end(case.body[-1]), case.body, depth + 1)
        else:
            self.cover(start, end, depth, self.logical_end(end))

    def is_elif(self, node):
        i = bisect.bisect_left(self.starts, self.start(node))
        return i < len(self.tokens) and self.tokens[i].string == "elif"

    def case_start(self, case):
        # match_case has no position of its own: it starts at the `case` before its pattern.
        p = case.pattern
        return self.token_before(self.pos(p.lineno, p.col_offset), "case")


# -- render ------------------------------------------------------------------------------

_ESCAPES = {
    0x00: "\\x00", 0x0A: "\\n", 0x0D: "\\r", 0x0B: "\\x0b", 0x0C: "\\x0c",
    0x1C: "\\x1c", 0x1D: "\\x1d", 0x1E: "\\x1e", 0x85: "\\x85",
    0x2028: "\\u2028", 0x2029: "\\u2029",
}


def truncate(value, max_chars):
    if value is None:
        return "<deleted>"
    n = max_chars - 3
    first, last = (n + 1) // 2, n // 2
    if isinstance(value, str):
        if len(value) <= max_chars:
            return value
        return value[:first] + "..." + value[len(value) - last:]
    head, tail = value["head"], value["tail"]
    if value["chars"] <= max_chars:
        return head + tail
    return head[:first] + "..." + tail[max(len(tail) - last, 0):]


def step_text(k, step, max_chars):
    pairs = ", ".join(
        name.translate(_ESCAPES) + "=" + truncate(value, max_chars).translate(_ESCAPES)
        for name, value in step["vars"]
    )
    return " (%d) %s;" % (k, pairs) if pairs else " (%d);" % k


def ending_line(ending):
    kind = ending["kind"]
    if kind == "complete":
        return None
    if kind == "step_limit":
        return "# (trace truncated after %d steps)" % ending["max_steps"]
    if kind == "time_limit":
        s = float(ending["seconds"])
        return "# (trace ended: time limit of %s s)" % (int(s) if s.is_integer() else repr(s))
    if kind == "memory_limit":
        return "# (trace ended: memory limit)"
    if kind == "tracer_error":
        return "# (trace ended: tracer error)"
    return "# (trace ended)"


def render(layout, trace, keep_first=2, keep_last=1, max_chars=100):
    steps = trace["steps"]
    anchors = layout.anchors
    by_line = {}
    for k, step in enumerate(steps):
        line = step["line"]
        anchor = anchors[line - 1] if 1 <= line <= len(anchors) else None
        if anchor is None:
            raise ValueError("step %d: line %d has no statement" % (k, line))
        by_line.setdefault(anchor, []).append(k)
    out = []
    for i, (content, terminator) in enumerate(layout.lines):
        out.append(content)
        ks = by_line.get(i)
        if ks:
            out.append("  #")
            if len(ks) > keep_first + keep_last:
                out.extend(step_text(k, steps[k], max_chars) for k in ks[:keep_first])
                out.append(" ...;")
                out.extend(step_text(k, steps[k], max_chars) for k in ks[len(ks) - keep_last:])
            else:
                out.extend(step_text(k, steps[k], max_chars) for k in ks)
        out.append(terminator)
    end = ending_line(trace["ending"])
    if end is not None:
        source = layout.source
        if source and not source.endswith(("\n", "\r")):
            out.append(layout.newline)
        out.append(end + layout.newline)
    return "".join(out)


# -- driver ------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("program")
    ap.add_argument("trace")
    ap.add_argument("--out")
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--keep-first", type=int, default=2)
    ap.add_argument("--keep-last", type=int, default=1)
    ap.add_argument("--max-value-chars", type=int, default=100)
    args = ap.parse_args()
    with open(args.program, encoding="utf-8", newline="") as f:
        source = f.read()
    with open(args.trace, encoding="utf-8") as f:
        trace = json.load(f)
    opts = (args.keep_first, args.keep_last, args.max_value_chars)

    text = render(Layout(source), trace, *opts)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    if args.seconds <= 0:
        return

    parse, rend, total = [], [], []
    clock = time.perf_counter
    deadline = clock() + args.seconds
    while len(total) < 5 or clock() < deadline:
        t0 = clock()
        layout = Layout(source)
        t1 = clock()
        render(layout, trace, *opts)
        t2 = clock()
        parse.append(t1 - t0)
        rend.append(t2 - t1)
        total.append(t2 - t0)
    print("parse_seconds=%.9f" % statistics.median(parse))
    print("render_seconds=%.9f" % statistics.median(rend))
    print("total_seconds=%.9f" % statistics.median(total))
    print("iterations=%d" % len(total))


if __name__ == "__main__":
    main()
