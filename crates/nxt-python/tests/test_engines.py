"""Engine selection: `engine="rustpython"` runs programs in a RustPython worker
program (docs/engines.md). The module holds no interpreter: each job executes the
worker, an `nxt` built with `--features rustpython` or an `nxt-rustpython-worker`.
The selection and its errors are tested always; runs are tested when a worker is
found ($NXT_RUSTPYTHON_WORKER, else target/release/nxt-rustpython-worker, which
`.ci/run`'s RustPython step builds after this suite)."""

import os
from pathlib import Path

import pytest

import nxt

ROOT = Path(__file__).resolve().parents[3]


def find_worker():
    env = os.environ.get("NXT_RUSTPYTHON_WORKER")
    if env:
        return env
    built = ROOT / "target/release/nxt-rustpython-worker"
    return str(built) if built.is_file() else None


WORKER = find_worker()
needs_worker = pytest.mark.skipif(
    WORKER is None,
    reason="no RustPython worker: `cargo build --release -p nxt-rustpython --features "
    "engine` (or set NXT_RUSTPYTHON_WORKER)",
)

TASK = nxt.Task(
    "demo/add", "Add two numbers.", "def add(a, b):\n    return a - b\n",
    ["assert add(2, 2) == 4", "assert add(1, 2) == 3"],
)
SAMPLES = [
    nxt.Sample("demo/add", "0", "def add(a, b):\n    return a + b\n"),
    nxt.Sample("demo/add", "1", "def add(a, b):\n    return a * 2\n"),
    nxt.Sample("demo/add", "2", "import sqlite3\ndef add(a, b):\n    return a + b\n"),
]


def test_engine_names_and_workers_are_checked(monkeypatch):
    monkeypatch.delenv("NXT_RUSTPYTHON_WORKER", raising=False)
    with pytest.raises(nxt.InvalidInput, match="engine"):
        nxt.trace("x = 1\n", engine="pypy")
    with pytest.raises(nxt.InvalidInput, match="worker"):
        nxt.verify([TASK], engine="cpython", worker="/bin/true")
    with pytest.raises(nxt.InvalidInput, match="worker"):
        nxt.trace_many(["x = 1\n"], engine="rustpython", worker=[])
    # No worker given, none in the environment, none beside the interpreter.
    with pytest.raises(nxt.SandboxError, match="no RustPython worker"):
        nxt.trace("x = 1\n", engine="rustpython")
    with pytest.raises(nxt.SandboxError):
        nxt.verify([TASK], SAMPLES, engine="rustpython", worker="/nonexistent/worker")


@needs_worker
def test_rustpython_traces_like_cpython(figure2):
    cpython = nxt.trace(figure2, name="figure2.py")
    rust = nxt.trace(figure2, name="figure2.py", engine="rustpython", worker=WORKER)
    assert rust.render() == cpython.render()
    assert rust.interpreter != cpython.interpreter
    many = nxt.trace_many(
        [figure2, "s = {1, 2}\n", "def f(:\n"], engine="rustpython", worker=WORKER,
        return_exceptions=True, jobs=2,
    )
    assert many[0].render() == cpython.render()
    assert isinstance(many[1], nxt.UnsupportedProgram)  # sets: insertion order
    assert isinstance(many[2], nxt.SyntaxErrorInProgram)


@needs_worker
def test_rustpython_verifies_like_cpython():
    results = nxt.verify([TASK], SAMPLES[:2], engine="rustpython", worker=[WORKER])
    assert [r.status for r in results] == ["passed", "failed"]
    # a check the engine cannot judge is a verdict of its own, never a pass
    results = nxt.verify([TASK], SAMPLES, engine="rustpython", worker=WORKER)
    assert [r.status for r in results][-1] == "unsupported"
    assert "sqlite3" in results[-1].meta["reason"]
