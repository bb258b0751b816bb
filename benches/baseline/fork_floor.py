#!/usr/bin/env python3
"""The floor of any fork-per-check verifier on this machine: what checks/second costs
when nothing but the fork, the program and its tests remain.

A warm interpreter that has imported the same standard-library modules as nxt's
workers (so programs that import them do not pay for it) starts WORKERS processes; each
takes the next check from a shared queue (a pipe of task indices: the same dynamic
scheduling as nxt's), forks a child for it and waits for it. The child compiles and runs
the program, the setup and the test blocks in one namespace and exits with
os._exit. There is no isolation at all (no uid, no limits, no working directory, no
process-group kill, no reaping of orphans), no result channel (the parent reads only the
exit status: 0 when every block ran, 1 otherwise), no output capture, and no harness.

A verifier that isolates each check in its own process does everything this does and
more, so it cannot be faster: the rate printed here bounds what nxt can reach (see
docs/benchmarks.md). Usage: fork_floor.py TASKS.jsonl [--workers N]

Prints `N passed, N failed` and `N checks in S s: R checks/s`, as `nxt verify` does.
"""

import argparse
import gc
import json
import os
import struct
import sys
import time
import warnings

# The modules nxt's workers import before they fork (nxt_sandbox::STDLIB_PRELOAD).
PRELOAD = ["math", "re", "collections", "itertools", "functools", "heapq", "bisect",
           "string", "typing", "operator", "copy", "fractions", "decimal", "statistics",
           "hashlib", "array", "cmath", "datetime"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    for name in PRELOAD:
        __import__(name)
    tasks = []
    with open(args.tasks, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                t = json.loads(line)
                tasks.append((t["code"], t.get("setup") or "", t["tests"]))
    warnings.simplefilter("ignore")  # SyntaxWarnings of the programs, as nxt's harness
    compile("def f(x):\n    return [y for y in x if y]\n", "<warm>", "exec")  # a warm compiler
    gc.collect()
    gc.freeze()

    queue_r, queue_w = os.pipe()
    done_r, done_w = os.pipe()
    os.write(queue_w, b"".join(struct.pack("<i", i) for i in range(len(tasks))))
    os.close(queue_w)
    start = time.perf_counter()
    workers = []
    for _ in range(max(1, args.workers)):
        pid = os.fork()
        if pid == 0:
            os.close(done_r)
            passed = 0
            while True:
                item = os.read(queue_r, 4)  # 4 bytes from a pipe: atomic
                if len(item) < 4:
                    break
                code, setup, tests = tasks[struct.unpack("<i", item)[0]]
                child = os.fork()
                if child == 0:
                    status = 1
                    try:
                        namespace = {"__name__": "__main__"}
                        exec(compile(code, "<program>", "exec"), namespace)
                        if setup:
                            exec(compile(setup, "<setup>", "exec"), namespace)
                        for test in tests:
                            exec(compile(test, "<test>", "exec"), namespace)
                        status = 0
                    except BaseException:
                        pass
                    os._exit(status)
                _, status = os.waitpid(child, 0)
                passed += status == 0
            os.write(done_w, struct.pack("<i", passed))
            os._exit(0)
        workers.append(pid)
    os.close(done_w)
    for pid in workers:
        os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    passed = 0
    while True:
        item = os.read(done_r, 4)
        if len(item) < 4:
            break
        passed += struct.unpack("<i", item)[0]
    print("%d passed, %d failed" % (passed, len(tasks) - passed))
    print("%d checks in %.2f s: %.1f checks/s" % (len(tasks), elapsed, len(tasks) / elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
