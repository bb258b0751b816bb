"""Tasks, samples and results files; importers."""

import errno
import pickle

import pytest

import nxt


def test_tasks_round_trip_and_pickle(tmp_path):
    task = nxt.Task("a/1", "p", "code\n", ["assert 1"], setup="x = 1", meta={"k": [1, 2.5, None]})
    assert nxt.Task.from_json(task.to_json()) == task
    assert nxt.Task.from_dict(task.to_dict()) == task
    assert pickle.loads(pickle.dumps(task)) == task
    task.tests = ["assert 2"]
    assert task.tests == ["assert 2"]
    path = tmp_path / "tasks.jsonl"
    nxt.write_jsonl(path, [task])
    assert nxt.read_tasks(path) == [task]
    sample = nxt.Sample("a/1", "0", "x = 1\n", meta={"model": "m"})
    nxt.write_jsonl(tmp_path / "s.jsonl", [sample])
    assert nxt.read_samples(tmp_path / "s.jsonl") == [sample]
    assert pickle.loads(pickle.dumps(sample)) == sample


def test_bad_lines_name_file_line_and_field(tmp_path):
    path = tmp_path / "tasks.jsonl"
    path.write_text(
        '{"task_id": "a", "prompt": "", "code": "", "tests": ["assert 1"]}\n'
        '{"task_id": "b", "prompt": "", "code": "", "tests": "assert 1"}\n'
    )
    with pytest.raises(nxt.InvalidData) as info:
        nxt.read_tasks(path)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, nxt.DataError)
    assert (err.path, err.line, err.field) == (str(path), 2, "tests")
    assert str(err).endswith("tasks.jsonl:2: field `tests`: expected a list of strings, found a string")
    assert [t.task_id for t in nxt.read_tasks(path, skip_invalid=True)] == ["a"]


def test_missing_files_are_os_errors(tmp_path):
    with pytest.raises(nxt.NxtOSError) as info:
        nxt.read_tasks(tmp_path / "nope.jsonl")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOENT


def test_benchmarks_import(data_dir):
    humaneval = data_dir / "HumanEval.jsonl"
    if not humaneval.exists():
        pytest.skip(f"no benchmark data in {data_dir} (set NXT_DATA_DIR)")
    tasks = nxt.import_benchmark("humaneval", humaneval)
    assert len(tasks) == 164 and tasks[0].task_id == "HumanEval/0"
    mbpp = nxt.import_benchmark("mbpp", data_dir / "mbpp.jsonl")
    assert len(mbpp) > 900
    fix = nxt.import_benchmark("humanevalfix", data_dir / "humanevalpack_python.jsonl")
    assert len(fix) == 164
    # The references pass; HumanEvalFix's buggy programs fail (a few, as a smoke test).
    results = nxt.verify(tasks[:4], [nxt.Sample(t.task_id, "ref", t.solution or "") for t in tasks[:4]])
    assert results.passed == 4
    assert nxt.verify(fix[:4]).passed == 0
    with pytest.raises(nxt.InvalidInput, match="unknown benchmark"):
        nxt.import_benchmark("nope", humaneval)


def test_plus_benchmarks_compute_their_expected_outputs_once(root, tmp_path):
    plus = root / "fixtures/data/humanevalplus.jsonl"
    cache = tmp_path / "cache"
    tasks = nxt.import_benchmark("humaneval-plus", plus, cache_dir=cache, jobs=2)
    assert tasks and all(t.setup and len(t.tests) >= 1 for t in tasks)
    assert len(list(cache.rglob("*"))) >= 1  # the expected outputs are cached
    # The references pass their own tests.
    refs = [nxt.Sample(t.task_id, "ref", t.solution or "") for t in tasks]
    assert nxt.verify(tasks, refs).passed == len(tasks)
    # Read back from the cache: the same tasks (time limits included).
    assert nxt.import_benchmark("humanevalplus", plus, cache_dir=cache) == tasks
    # The CLI, given the same cache, makes the same tasks.
    cli = root / "target/debug/nxt"
    if cli.exists():
        import subprocess

        out = tmp_path / "cli.jsonl"
        subprocess.run(
            [str(cli), "data", "import", "humaneval-plus", str(plus), "--out", str(out),
             "--cache-dir", str(cache)],
            check=True,
            capture_output=True,
        )
        assert nxt.read_tasks(out) == tasks
    # HEFix+: the repair tasks with HumanEval+'s tests.
    fix = nxt.import_benchmark("humanevalfix", root / "fixtures/data/humanevalpack.jsonl")
    both = nxt.hefix_plus(fix, tasks)
    assert [t.task_id for t in both] and all(t.tests for t in both)
    mbpp = nxt.import_benchmark("mbpp-plus", root / "fixtures/data/mbppplus.jsonl", cache_dir=cache)
    assert mbpp and mbpp[0].task_id.startswith("Mbpp/")
