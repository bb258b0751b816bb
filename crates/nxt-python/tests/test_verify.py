"""nxt.verify, results, pass@k."""

import pickle

import pytest

import nxt

ADD = nxt.Task(
    "demo/add",
    "Add two numbers.",
    "def add(a, b):\n    return a - b\n",
    ["assert add(2, 2) == 4", "assert add(0, 0) == 0"],
    entry_point="add",
)
FIXED = "def add(a, b):\n    return a + b\n"


def test_a_tasks_own_code_and_samples():
    own = nxt.verify([ADD])
    assert len(own) == 1 and own[0].sample_id == "code"
    result = own[0]
    assert result.status == "failed" and not result.passed
    assert [t.status for t in result.tests] == ["failed", "passed"]
    assert result.tests[0].exception == "AssertionError" and result.tests[0].line == 1
    assert result.meta  # the isolation report

    samples = [nxt.Sample("demo/add", str(i), FIXED if i % 2 else ADD.code) for i in range(4)]
    results = nxt.verify([ADD], samples, jobs=2)
    assert [r.sample_id for r in results] == ["0", "1", "2", "3"]
    assert [r.status for r in results] == ["failed", "passed", "failed", "passed"]
    assert results.passed == 2 and results.counts == {"passed": 2, "failed": 2}
    assert results.tasks == {"demo/add": (4, 2)}
    assert results.pass_at_k(1) == pytest.approx(0.5)
    assert results.pass_at_k(2) == pytest.approx(nxt.pass_at_k(4, 2, 2))
    assert results.pass_at([1, 5]) == {1: pytest.approx(0.5), 5: None}


def test_verdicts_of_hostile_programs():
    task = nxt.Task("t", "", "", ["assert f() == 1"])
    cases = {
        "syntax_error": "def f(:\n",
        "timeout": "def f():\n    while True: pass\n",
        "error": "def f():\n    return 1 / 0\n",
        "crashed": "import os\nos._exit(0)\n",
        "passed": "def f():\n    return 1\n",
    }
    samples = [nxt.Sample("t", k, code) for k, code in cases.items()]
    results = nxt.verify([task], samples, timeout=0.5, jobs=2)
    assert {r.sample_id: r.status for r in results} == {k: k for k in cases}


def test_dicts_and_paths_work_as_inputs(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    nxt.write_jsonl(tasks, [ADD])
    samples = [{"task_id": "demo/add", "sample_id": "a", "code": FIXED}]
    results = nxt.verify(str(tasks), samples)
    assert results[0].passed
    results = nxt.verify([ADD.to_dict()], [nxt.Sample.of_task(ADD)])
    assert results[0].status == "failed"


def test_bad_pairs_are_invalid_input():
    with pytest.raises(nxt.InvalidInput, match="no task"):
        nxt.verify([ADD], [nxt.Sample("other", "0", "")])
    with pytest.raises(nxt.InvalidInput, match="duplicate"):
        nxt.verify([ADD, ADD])
    with pytest.raises(ValueError, match="field `tests`: expected a list of strings"):
        nxt.verify([{"task_id": "x", "prompt": "", "code": "", "tests": "assert 1"}])


def test_results_pickle_and_round_trip_through_jsonl():
    results = nxt.verify([ADD], [nxt.Sample("demo/add", "0", FIXED)])
    back = pickle.loads(pickle.dumps(results))
    assert back == results and back[0] == results[0]
    assert pickle.loads(pickle.dumps(results[0])) == results[0]
    assert nxt.Verification.from_jsonl(results.to_jsonl()) == results
    assert nxt.CheckResult.from_json(results[0].to_json()) == results[0]


def test_pass_at_k_matches_the_estimator():
    assert nxt.pass_at_k(10, 1, 1) == pytest.approx(0.1)
    assert nxt.pass_at_k(5, 5, 5) == 1.0
    assert nxt.pass_at_k(200, 0, 10) == 0.0
