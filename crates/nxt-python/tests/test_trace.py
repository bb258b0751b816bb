"""nxt.trace, nxt.trace_many, nxt.render and the Trace class."""

import json
import pickle

import pytest

import nxt


def test_figure2_renders_as_the_paper_and_the_cli(root, figure2):
    trace = nxt.trace(figure2, name="figure2.py")
    expected = (root / "fixtures/paper/figure2.expected.py").read_text()
    assert trace.render() == expected
    assert str(trace) == expected
    keep3 = (root / "fixtures/paper/figure2.keep3.expected.py").read_text()
    assert trace.render(keep_first=3) == keep3
    assert trace.complete and trace.ending == {"kind": "complete"}
    assert trace.interpreter.startswith("CPython 3.")
    assert trace.name == "figure2.py" and trace.source == figure2
    first = trace.steps[0]
    assert (first.line, first.event) == (1, "call")
    assert first.vars == [("lst", "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]")]
    assert trace.steps[-1].vars[-1][0] == "__return__"
    assert len(trace) == len(trace.steps)


def test_render_a_trace_captured_earlier_runs_nothing(root, figure2):
    doc = (root / "fixtures/paper/figure2.trace.json").read_text()
    expected = (root / "fixtures/paper/figure2.expected.py").read_text()
    assert nxt.render(figure2, doc) == expected
    restored = nxt.Trace.from_json(doc, figure2, name="figure2.py")
    assert restored.render() == expected
    # A captured trace's JSON reads back to the same trace.
    trace = nxt.trace(figure2)
    again = nxt.Trace.from_json(trace.to_json(), figure2)
    assert again == trace
    assert json.loads(trace.to_json(pretty=True))["format"] == "nxt-trace"


def test_other_formats_and_budgets(figure2):
    trace = nxt.trace(figure2)
    semcoder = trace.render(format="semcoder")
    ldb = trace.render(format="ldb")
    assert semcoder != ldb and semcoder != trace.render()
    assert nxt.render(figure2, trace, format="ldb") == ldb
    short = trace.render(max_tokens=150)
    assert len(short) < len(trace.render())
    with pytest.raises(nxt.OverBudget):
        trace.render(max_tokens=5)
    with pytest.raises(nxt.InvalidInput, match="unknown trace format"):
        trace.render(format="nope")


def test_endings_of_programs_that_misbehave():
    looping = nxt.trace("while True:\n    pass\n", timeout=0.3)
    assert looping.ending == {"kind": "time_limit", "seconds": 0.3}
    assert looping.render().endswith("# (trace ended: time limit of 0.3 s)\n")
    steps = nxt.trace("x = 0\nfor i in range(100):\n    x += i\n", max_steps=10)
    assert steps.ending == {"kind": "step_limit", "max_steps": 10}
    assert len(steps) == 10
    failing = nxt.trace("def f():\n    raise ValueError('no')\n\nf()\n")
    assert failing.complete and failing.exception == "ValueError('no')"


def test_syntax_errors_are_python_syntax_errors():
    with pytest.raises(nxt.SyntaxErrorInProgram) as info:
        nxt.trace("x = 1\ndef f(:\n    pass\n", name="bad.py")
    err = info.value
    assert isinstance(err, SyntaxError) and isinstance(err, nxt.NxtError)
    assert (err.filename, err.lineno) == ("bad.py", 2)
    assert err.text == "def f(:\n"
    # Rendering a source that does not parse is the same error.
    with pytest.raises(SyntaxError):
        nxt.render("def f(:\n", nxt.trace("x = 1\n"))


def test_bad_input_is_a_value_error():
    with pytest.raises(nxt.TraceJsonError):
        nxt.render("x = 1\n", '{"format": "other"}')
    with pytest.raises(ValueError):
        nxt.trace("x = 1\n", timeout=-1)
    with pytest.raises(nxt.RenderError, match="max_value_chars"):
        nxt.trace("x = 1\n").render(max_value_chars=2)
    # A trace of another program names lines this source does not have.
    with pytest.raises(nxt.RenderError):
        nxt.render("x = 1\n", nxt.trace("x = 1\ny = 2\nz = 3\n"))


def test_trace_many_keeps_order_and_reports_errors_in_place():
    sources = [f"x = {i}\n" for i in range(6)] + [("bad.py", "def (:\n")]
    with pytest.raises(nxt.SyntaxErrorInProgram):
        nxt.trace_many(sources, jobs=2)
    out = nxt.trace_many(sources, jobs=2, return_exceptions=True)
    assert [t.steps[0].vars for t in out[:6]] == [[("x", str(i))] for i in range(6)]
    assert isinstance(out[6], nxt.SyntaxErrorInProgram) and out[6].filename == "bad.py"
    with pytest.raises(nxt.InvalidInput):
        nxt.trace_many([42])


def test_traces_pickle(figure2):
    trace = nxt.trace(figure2, name="figure2.py", keep_first=1)
    back = pickle.loads(pickle.dumps(trace))
    assert back == trace and back.render() == trace.render()
    assert back.render() != nxt.trace(figure2).render()  # the options travel too
    assert pickle.loads(pickle.dumps(trace.steps)) == trace.steps
