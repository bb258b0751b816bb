"""Verify a task set past one machine: Ray Data hands batches of (task, sample) pairs
to workers, each batch is one `nxt.verify` call (which runs the checks on that worker's
cores, in the sandbox), and the results come back as JSON lines.

    pip install "ray[data]"
    python examples/python/ray_verify.py TASKS.jsonl [SAMPLES.jsonl]

On a cluster, `ray.init(address="auto")` instead of the local start below; nothing
else changes. Tasks and results cross process boundaries as JSON (they also pickle).
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import nxt


def verify_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """One Ray Data batch: columns `task` and `sample` (JSON lines) in, `result` out."""
    tasks: dict[str, nxt.Task] = {}
    for text in batch["task"]:
        task = nxt.Task.from_json(str(text))
        tasks[task.task_id] = task
    samples = [nxt.Sample.from_json(str(s)) for s in batch["sample"]]
    results = nxt.verify(list(tasks.values()), samples, jobs=1)
    return {"result": [r.to_json() for r in results]}


def verify_with_ray(
    tasks: list[nxt.Task],
    samples: Optional[list[nxt.Sample]] = None,
    batch_size: int = 16,
    concurrency: int = 2,
) -> nxt.Verification:
    """Verifies `samples` (by default each task's own code) on a Ray cluster (the local
    one started by `ray.init()` if none is running), `batch_size` pairs per call."""
    import ray

    by_id = {t.task_id: t for t in tasks}
    if samples is None:
        samples = [nxt.Sample.of_task(t) for t in tasks]
    items = [{"task": by_id[s.task_id].to_json(), "sample": s.to_json()} for s in samples]
    dataset = ray.data.from_items(items).map_batches(
        verify_batch, batch_size=batch_size, concurrency=concurrency
    )
    results = [nxt.CheckResult.from_json(str(row["result"])) for row in dataset.take_all()]
    # Ray may reorder batches: put the results back in the order of the samples.
    order = {(s.task_id, s.sample_id): i for i, s in enumerate(samples)}
    results.sort(key=lambda r: order[(r.task_id, r.sample_id)])
    return nxt.Verification(results)


def main(argv: list[str]) -> int:
    import ray

    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    tasks = nxt.read_tasks(argv[1])
    samples = nxt.read_samples(argv[2]) if len(argv) > 2 else None
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = verify_with_ray(tasks, samples)
    print(results.to_jsonl(), end="")
    print(f"{results.passed} passed of {len(results)}; pass@1 {results.pass_at_k(1)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
