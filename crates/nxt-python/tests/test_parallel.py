"""Scaling past one process: the objects pickle, and a task set is verified with
`concurrent.futures` (fork and spawn) and with Ray Data (when Ray is installed)."""

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

import nxt

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "python"
sys.path.insert(0, str(EXAMPLES))

TASKS = [
    nxt.Task(f"t/{i}", "", f"def f():\n    return {i % 3}\n", ["assert f() == 1"])
    for i in range(24)
]
PASSING = {t.task_id for t in TASKS if t.code.endswith("1\n")}


def check(verification: nxt.Verification) -> None:
    assert [r.task_id for r in verification] == [t.task_id for t in TASKS]
    assert {r.task_id for r in verification if r.passed} == PASSING
    assert verification.pass_at_k(1) == pytest.approx(len(PASSING) / len(TASKS))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_pool_verifies_shards(method):
    from process_pool_verify import verify_shard

    nxt.verify(TASKS[:1])  # the parent's workers exist before the fork
    shards = [TASKS[i::2] for i in range(2)]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as pool:
        parts = list(pool.map(verify_shard, shards))
    order = {t.task_id: i for i, t in enumerate(TASKS)}
    results = sorted((r for p in parts for r in p.results), key=lambda r: order[r.task_id])
    check(nxt.Verification(results))
    # The parent's workers still work after its children forked and exited.
    assert nxt.verify(TASKS[1:2])[0].passed


def test_ray_data_verifies_a_task_set_in_batches():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        pytest.skip(
            "Ray is not installed in this environment: `pip install 'ray[data]'` "
            "(crates/nxt-python/ci.sh installs it unless NXT_PY_RAY=0)"
        )
    from ray_verify import verify_with_ray

    # Ray's workers import the example module by name. (With no PYTHONPATH before,
    # this one ends with an empty entry, which the sandbox drops.)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        check(verify_with_ray(TASKS, batch_size=5))
    finally:
        ray.shutdown()


def test_an_empty_pythonpath_entry_does_not_stop_the_sandbox():
    """`PYTHONPATH=:/x` (or a trailing `:`) once kept the sandbox's workers from
    starting: the empty entry, the current directory to CPython, was the pool's
    private directory, unreadable by the jobs' uid."""
    import subprocess
    import sys

    code = (
        "import nxt\n"
        "t = nxt.Task('t', '', 'import os\\nprint(os.environ.get(\"PYTHONPATH\"))\\n', ['assert True'])\n"
        "r = nxt.verify([t])[0]\n"
        "print(r.status, r.stdout.strip())\n"
    )
    for value, seen in ((":/usr", "/usr"), ("/usr:", "/usr"), (":", "None")):
        env = dict(os.environ, PYTHONPATH=value)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == ["passed", seen], out.stdout
