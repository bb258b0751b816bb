"""Checkpoints, dev-set evaluation, the report, dump and import, from Python."""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import nxt

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "fixtures/selftrain/demo"
SNAPSHOTS = ROOT / "crates/nxt-selftrain/tests/snapshots"


def snapshot(name: str) -> str:
    """The body of an insta snapshot (after its front matter)."""
    text = (SNAPSHOTS / name).read_text()
    return text.split("---\n", 2)[2]


def demo_config() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    config = tomllib.loads((DEMO / "run.toml").read_text())
    config["sampler"] = f"replay:{DEMO / 'answers.jsonl'}"
    return config


def test_the_demo_from_python_gives_the_rust_report(tmp_path):
    """The offline demo driven from Python, the samplers named by specs (the base
    model's from the configuration, the checkpoints' registered): the report is the
    one the Rust library's snapshot holds, byte for byte."""
    run = nxt.Run.init(
        tmp_path / "demo.db", DEMO / "train.jsonl", DEMO / "dev.jsonl", config=demo_config()
    )
    assert run.next_checkpoint()["name"] == "base"
    run.step()
    run.step()
    with_traces, without = run.evaluate(0, samples=25)
    assert (with_traces.trace, without.trace) == (True, False)
    assert with_traces.checkpoint == "base" and with_traces.finished
    assert round(with_traces.pass_at_k(1), 3) == 0.2 and round(without.pass_at[1], 3) == 0.1
    assert with_traces.sampled == 4 * 25 and with_traces.unprompted == []

    c = run.register_checkpoint(1, f"replay:{DEMO / 'checkpoint-1.jsonl'}", name="ft-1")
    assert (c["iteration"], c["name"], c["model"]) == (1, "ft-1", "replay")
    assert run.checkpoint(1) == c and run.checkpoints() == [c]
    assert run.register_checkpoint(1, f"replay:{DEMO / 'checkpoint-1.jsonl'}", name="ft-1") == c
    run.evaluate(1, samples=25, trace="with")
    run.evaluate(1, samples=25, trace="without")
    assert run.next_checkpoint()["name"] == "ft-1"
    run.step()
    run.register_checkpoint(2, f"replay:{DEMO / 'checkpoint-2.jsonl'}", name="ft-2")
    run.evaluate(2, samples=25)
    # A checkpoint sampled from cannot be replaced.
    with pytest.raises(nxt.StoreError, match="cannot be replaced"):
        run.register_checkpoint(1, f"replay:{DEMO / 'checkpoint-2.jsonl'}", name="other")

    assert run.best_iteration() == (2, pytest.approx(0.6))
    results = run.eval_results()
    assert [(r.iteration, r.trace) for r in results] == [
        (0, False), (0, True), (1, False), (1, True), (2, False), (2, True)
    ]
    assert results[-1].to_dict()["pass_at"] == {1: pytest.approx(0.6), 5: pytest.approx(0.983, abs=1e-3),
                                                10: pytest.approx(1.0, abs=1e-3), 25: 1.0}
    assert run.report() == snapshot("evaluation__demo_report_text.snap")
    page = tmp_path / "report.html"
    assert run.report(html=page) == run.report()
    assert page.read_text() == run.report_html() == snapshot("evaluation__demo_report_html.snap")
    assert run.report_svg() in run.report_html()


FIX = "It adds instead of doubling.\n```python\ndef double(x):\n    return 2 * x\n```\n"
TASKS = [
    nxt.Task(f"{split}/{i}", "Return the double of x.", f"def double(x):\n    return x + {i + 1}\n",
             ["assert double(2) == 4", "assert double(5) == 10"])
    for split in ("train", "dev") for i in range(2)
]
CONFIG = {"model": "m", "samples_per_task": 2, "hard_threshold": 1.0, "iterations": 1}


def half_right(request: nxt.SampleRequest) -> list:
    """One fix, one wrong answer, one fix, ...: pass@1 is 1/2."""
    return [FIX if i % 2 == 0 else "No idea." for i in range(request.n)]


def test_a_python_callable_evaluates_and_the_evaluation_resumes(tmp_path):
    run = nxt.Run.init(tmp_path / "run.db", TASKS[:2], TASKS[2:], config=CONFIG)
    seen = []

    def model(request: nxt.SampleRequest) -> list:
        text = request.prompt or "".join(m["content"] for m in request.messages or [])
        seen.append((request.task_id, "# Here is the execution trace" in text))
        return half_right(request)

    # The base model has no sampler configured: a callable is needed.
    with pytest.raises(nxt.ConfigError, match="names no sampler"):
        run.evaluate(0)
    progress = []
    [r] = run.evaluate(0, model, samples=10, trace="without", on_progress=progress.append)
    assert sorted(seen) == [("dev/0", False), ("dev/1", False)]
    assert (r.tasks, r.samples, r.passed, r.samples_per_task) == (2, 20, 10, 10)
    assert r.pass_at_k(1) == pytest.approx(0.5)
    assert r.pass_at_k(5) == pytest.approx(1 - 1 / 252)  # 1 - C(5,5)/C(10,5)
    assert r.pass_at_k(10) == 1.0 and r.pass_at_k(25) is None
    with pytest.raises(nxt.InvalidInput):
        r.pass_at_k(3)
    assert any("verified" in p for p in progress)
    assert "EvalResult(iteration=0, trace=False" in repr(r)

    # Asking again with more samples asks only for the new slots.
    seen.clear()
    [r] = run.evaluate(0, model, samples=12, trace="without")
    assert r.sampled == 4 and r.samples == 24
    [r] = run.evaluate(0, model, samples=12, trace="with")
    assert {t for _, t in seen} == {False, True} and r.trace
    assert run.best_iteration() == (0, pytest.approx(0.5))

    # A checkpoint served from Python: registered as "python", asked through a callable.
    run.register_checkpoint(1, "python", name="mine")
    with pytest.raises(nxt.ConfigError, match="not finished"):
        run.evaluate(1, model)
    run.step(model)
    run.step(model)
    assert run.checkpoint(1)["sampler"] == "python"
    with pytest.raises(nxt.ConfigError, match="served from Python"):
        run.evaluate(1)
    [r] = run.evaluate(1, model, samples=4, trace="with")
    assert r.checkpoint == "mine" and r.pass_at_k(1) == pytest.approx(0.5)
    with pytest.raises(nxt.ConfigError, match="no checkpoint"):
        run.evaluate(2, model)
    with pytest.raises(nxt.InvalidInput, match="trace"):
        run.evaluate(0, model, trace="sometimes")
    with pytest.raises(nxt.ConfigError):
        run.register_checkpoint(1, "http://nowhere")

    # A failing callable: SamplerError, its cause the callable's exception.
    def down(request):
        raise ConnectionError("offline")

    with pytest.raises(nxt.SamplerError) as info:
        run.evaluate(0, down, samples=14, trace="with")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_dump_and_import_move_samples_between_runs(tmp_path):
    a = nxt.Run.init(tmp_path / "a.db", TASKS[:2], config=CONFIG)
    a.step(half_right)
    a.step(half_right)
    store = nxt.Store.open(a.path)
    rows = [r for r in store.rows("samples") if r["iteration"] == 1]
    assert len(rows) == 4 and {r["idx"] for r in rows} == {0, 1}
    assert isinstance(rows[0]["params"], dict)
    out = tmp_path / "samples.jsonl"
    assert store.dump("samples", out) == 4
    assert [json.loads(line) for line in out.read_text().splitlines()] == store.rows("samples")
    assert len(store.rows("tasks")) == 2
    with pytest.raises(nxt.StoreError, match="no table"):
        store.rows("nope")

    # Run b's model is down: iteration 1 is planned and left empty.
    def down(request):
        raise ConnectionError("offline")

    b = nxt.Run.init(tmp_path / "b.db", TASKS[:2], config=CONFIG)
    b.step(down)  # the selection samples nothing
    with pytest.raises(nxt.SamplerError):
        b.step(down)
    bad = dict(rows[0], idx=-1)
    with pytest.raises(nxt.InvalidInput, match=r"<samples>:1: field `idx`"):
        b.import_samples([bad])
    assert b.import_samples(rows) == (0, 4)
    assert b.import_samples(str(out)) == (0, 0)  # the same again: nothing
    report = b.step(down)  # nothing left to sample: verify and finish
    assert report["sampled"] == 0 and report["finished"]
    assert b.status()["iterations"][1]["passed"] == a.status()["iterations"][1]["passed"] == 2
    assert b.import_tasks("dev", TASKS[2:]) == 2
    with pytest.raises(nxt.ConfigError, match="before"):
        b.import_tasks("train", TASKS[2:])


EVAL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import nxt
    path = sys.argv[1]
    tasks = [nxt.Task(f"t/{i}", "Double x.", f"def double(x):\\n    return x + {i + 1}\\n",
                      ["assert double(2) == 4"]) for i in range(6)]
    train = [nxt.Task("train/0", "Double x.", "def double(x):\\n    return x\\n", ["assert double(2) == 4"])]
    run = nxt.Run.init(path, train, tasks, config={"hard_threshold": 1.0})
    def slow(request):
        if request.task_id == "t/0":
            print("ready", flush=True)
        time.sleep(0.4)
        return ["```python\\ndef double(x):\\n    return 2 * x\\n```"] * request.n
    start = time.monotonic()
    try:
        run.evaluate(0, slow, samples=2, trace="with")
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - start:.2f}", flush=True)
    """
)


def test_ctrl_c_interrupts_an_evaluation_and_it_continues(tmp_path):
    path = tmp_path / "run.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", EVAL_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out.startswith("interrupted after "), out
    assert float(out.split()[-1]) < 2.0
    run = nxt.Run.open(path)
    [partial] = run.eval_results()
    assert not partial.finished and 0 < partial.samples < 12
    calls = []

    def fast(request):
        calls.append(request.task_id)
        return ["```python\ndef double(x):\n    return 2 * x\n```"] * request.n

    [r] = run.evaluate(0, fast, samples=2, trace="with")
    assert r.finished and r.samples == 12 and r.passed == 12
    assert 0 < len(calls) < 6 and r.sampled == 2 * len(calls)
