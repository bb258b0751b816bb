"""Verify a task set on several processes with the standard library alone: each
process runs `nxt.verify` on a shard (and its own sandbox workers). Tasks, samples and
results pickle, so they cross process boundaries as they are.

    python examples/python/process_pool_verify.py TASKS.jsonl [PROCESSES]
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor

import nxt


def verify_shard(tasks: list[nxt.Task]) -> nxt.Verification:
    return nxt.verify(tasks, jobs=1)


def verify_in_processes(tasks: list[nxt.Task], processes: int = 2) -> nxt.Verification:
    shards = [tasks[i::processes] for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        parts = list(pool.map(verify_shard, shards))
    order = {t.task_id: i for i, t in enumerate(tasks)}
    results = sorted((r for part in parts for r in part.results), key=lambda r: order[r.task_id])
    return nxt.Verification(results)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    all_tasks = nxt.read_tasks(sys.argv[1])
    verification = verify_in_processes(all_tasks, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    print(f"{verification.passed} passed of {len(verification)}")
