"""The self-training store and loop, driven by Python samplers and filters."""

import json

import pytest

import nxt

BUGGY = [
    nxt.Task(
        f"demo/{i}",
        "Return the double of x.",
        f"def double(x):\n    return x + {i + 1}\n",
        ["assert double(2) == 4", "assert double(5) == 10"],
    )
    for i in range(3)
]
FIX = (
    "double(5) returns {n} where 10 is expected: it adds instead of doubling.\n"
    "Here is a fixed version of the program:\n"
    "```python\ndef double(x):\n    return 2 * x\n```\n"
)
CONFIG = {
    "model": "test-model",
    "samples_per_task": 2,
    "selection_samples": 1,
    "hard_threshold": 1.0,
    "iterations": 1,
    "format": "chat",
}


def sampler(request: nxt.SampleRequest) -> list:
    assert request.messages is not None and request.n == 2
    # One fix and one answer without code, per task.
    return [FIX.format(n=request.task_id), ("I am not sure.", "stop")]


def test_a_python_sampler_drives_the_loop(tmp_path):
    run = nxt.Run.init(tmp_path / "run.db", BUGGY, config=CONFIG)
    assert run.next() == "select"
    seen = []
    report = run.step(sampler, jobs=2, on_progress=seen.append)
    assert report["iteration"] == 0 and report["finished"]
    assert run.hard_tasks() == [t.task_id for t in BUGGY]
    report = run.step(sampler, jobs=2, on_progress=seen.append)
    assert report == {
        "iteration": 1,
        "tasks": 3,
        "unprompted": [],
        "sampled": 6,
        "verified": 3,
        "finished": True,
    }
    assert any("sampled" in m for m in seen)
    assert run.next() == "done"
    status = run.status()
    assert status["iterations"][1]["kept"] == 3 and status["next"] == "done"
    assert "iteration 1: finished" in run.status_text()

    records = run.export_records(1)
    assert len(records) == 3
    assert records[0]["messages"][-1] == {"role": "assistant", "content": FIX.format(n="demo/0")}
    out = tmp_path / "train.jsonl"
    assert run.export(1, out) == 3
    assert [json.loads(l) for l in out.read_text().splitlines()] == records

    # A Python filter drops more, after the run's own filters.
    def not_demo_1(c: nxt.Candidate) -> bool:
        assert c.verdict is not None and c.verdict.passed
        return c.task_id != "demo/1"

    kept = run.export_records(1, filter=not_demo_1, format="completion")
    assert len(kept) == 2 and set(kept[0]) == {"prompt", "completion"}
    assert run.export(1, tmp_path / "f.jsonl", filter=not_demo_1) == 2
    kinds = [e["kind"] for e in nxt.Store.open(run.path).exports()]
    assert kinds == ["chat", "chat+filter"]

    # The same records as the run writes them without a filter.
    assert run.export_records(1, filter=lambda c: True) == records
    cands = run.candidates(1)
    assert len(cands) == 6 and sum(c.code is None for c in cands) == 3

    # The store reads the same run.
    store = nxt.Store.open(tmp_path / "run.db")
    assert [t.task_id for t in store.tasks("train")] == [t.task_id for t in BUGGY]
    assert store.progress(1) == (6, 6)
    samples = store.samples(1)
    assert samples[0]["code"] == "def double(x):\n    return 2 * x\n"
    assert samples[1]["parse_error"] == "the answer holds no code"
    assert samples[1]["finish_reason"] == "stop"
    assert len(store.verdicts(1)) == 3
    store.check_integrity()


def test_batch_samplers_and_sampler_failures(tmp_path):
    class Batch:
        calls = 0

        def __call__(self, request):  # not used: sample_batch wins
            raise AssertionError("sample_batch should be used")

        def sample_batch(self, requests):
            Batch.calls += 1
            return [[{"text": FIX.format(n=1)}] * r.n for r in requests]

    run = nxt.Run.init(tmp_path / "run.db", BUGGY, config=CONFIG)
    run.step(Batch())
    run.step(Batch())
    assert Batch.calls == 1  # three requests, one batch
    assert run.status()["iterations"][1]["passed"] == 6

    def broken(request):
        raise ConnectionError("model offline")

    run = nxt.Run.init(tmp_path / "run2.db", BUGGY, config=CONFIG)
    run.step(broken)  # the selection samples nothing
    with pytest.raises(nxt.SamplerError) as info:
        run.step(broken)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert "run the step again" in str(info.value)
    # Nothing was lost: the step continues with a working sampler.
    assert run.step(sampler)["sampled"] == 6

    def short(request):
        return ["only one"]

    run = nxt.Run.init(tmp_path / "run3.db", BUGGY, config=CONFIG)
    run.step(short)
    with pytest.raises(nxt.SamplerError) as info:
        run.step(short)
    assert "asked for 2 completions" in str(info.value.__cause__)


def test_the_store_by_hand(tmp_path):
    store = nxt.Store.create(tmp_path / "s.db", {"note": "by hand"})
    assert store.config == {"note": "by hand"}
    assert store.add_tasks("train", BUGGY[:1]) == 1
    it = store.begin_iteration()
    request = {"task_id": "demo/0", "input": {"text": "Fix it."}, "n": 2}
    slots = store.plan(it, request, "m")
    assert [s["index"] for s in slots] == [0, 1]
    [(req, pending)] = store.pending(it)
    assert req.prompt == "Fix it." and req.n == 2 and pending == slots
    store.fill(pending, [FIX.format(n=0), "no code"])
    assert store.progress(it) == (2, 2) and store.pending(it) == []
    results = nxt.verify(BUGGY[:1], [nxt.Sample("demo/0", "0", store.samples(it)[0]["code"])])
    store.record_verdict(slots[0], results[0])
    assert store.verdicts(it)[0][1].passed
    store.finish_iteration(it)
    assert store.iterations()[0]["finished_at"] is not None
    with pytest.raises(nxt.StoreError):
        nxt.Store.open(tmp_path / "missing.db")
    with pytest.raises(nxt.ConfigError):
        nxt.Run.init(tmp_path / "r.db", BUGGY, config={"format": "html"})
    with pytest.raises(nxt.InvalidInput, match="unknown field"):
        nxt.Run.init(tmp_path / "r2.db", BUGGY, config={"samples": 3})
