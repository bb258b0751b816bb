"""Python against the CLI on the same inputs: `nxt.verify` and `nxt.trace_many` from
Python, and `nxt verify` and `nxt trace --out-dir` as processes.

    cargo build --release -p nxt-cli
    (cd crates/nxt-python && maturin develop --release)
    python crates/nxt-python/bench/compare.py [--nxt target/release/nxt] [--jobs 2] [--repeat 3]

Inputs: HumanEval (`$NXT_DATA_DIR/HumanEval.jsonl`): its 164 reference solutions
verified against the tests, and 164 programs (each solution followed by its first
test block) traced and rendered. Reported, best of `--repeat`, in seconds:

- `cli`: the `nxt` process, start to end (starting its workers included);
- `python, new process`: `python -c "import nxt; ..."` doing the same, start to end;
- `python, warm`: the call alone, in a process whose workers are already started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import nxt

ROOT = Path(__file__).resolve().parents[3]


def best(repeat: int, f: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nxt", default=str(ROOT / "target/release/nxt"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = Path(os.environ.get("NXT_DATA_DIR", ROOT.parent / "shared/data"))
    tasks = nxt.import_benchmark("humaneval", data / "HumanEval.jsonl")
    samples = [nxt.Sample(t.task_id, "ref", t.solution or "") for t in tasks]
    programs = [(t.task_id.replace("/", "_") + ".py", nxt.traced_program(
        nxt.Task(t.task_id, t.prompt, t.solution or "", t.tests, setup=t.setup), 0)) for t in tasks]
    jobs = args.jobs
    print(f"{len(tasks)} checks, {len(programs)} programs, {jobs} jobs, best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        nxt.write_jsonl(t / "tasks.jsonl", tasks)
        nxt.write_jsonl(t / "samples.jsonl", samples)
        files = []
        for name, source in programs:
            (t / name).write_text(source)
            files.append(str(t / name))

        # verify
        def cli_verify() -> None:
            (t / "r.jsonl").unlink(missing_ok=True)
            run([args.nxt, "verify", str(t / "tasks.jsonl"), "--samples", str(t / "samples.jsonl"),
                 "--jobs", str(jobs), "--out", str(t / "r.jsonl")])

        py_verify_src = (
            f"import nxt; r = nxt.verify({str(t / 'tasks.jsonl')!r}, {str(t / 'samples.jsonl')!r}, "
            f"jobs={jobs}); assert r.passed == len(r)"
        )
        nxt.verify(tasks, samples, jobs=jobs)  # start the workers
        rows = [
            ("verify", "cli", best(args.repeat, cli_verify)),
            ("verify", "python, new process",
             best(args.repeat, lambda: run([sys.executable, "-c", py_verify_src]))),
            ("verify", "python, warm",
             best(args.repeat, lambda: nxt.verify(tasks, samples, jobs=jobs))),
        ]
        passed = nxt.verify(tasks, samples, jobs=jobs).passed

        # trace + render
        def cli_trace() -> None:
            run([args.nxt, "trace", *files, "--out-dir", str(t / "out"), "--jobs", str(jobs)])

        def py_trace() -> None:
            traces = nxt.trace_many(programs, jobs=jobs)
            for (name, _), tr in zip(programs, traces):
                (t / "pyout" / name).write_text(tr.render())

        (t / "pyout").mkdir()
        py_trace_src = (
            "import nxt, pathlib, sys; d = pathlib.Path(sys.argv[1]); files = sys.argv[2:]; "
            f"ts = nxt.trace_many([(f, open(f).read()) for f in files], jobs={jobs}); "
            "[(d / pathlib.Path(f).name).write_text(x.render()) for f, x in zip(files, ts)]"
        )
        py_trace()  # start the workers
        rows += [
            ("trace+render", "cli", best(args.repeat, cli_trace)),
            ("trace+render", "python, new process",
             best(args.repeat, lambda: run([sys.executable, "-c", py_trace_src, str(t / "pyout"), *files]))),
            ("trace+render", "python, warm", best(args.repeat, py_trace)),
        ]
        same = all((t / "out" / n).read_text() == (t / "pyout" / n).read_text() for n, _ in programs)

    print(f"references passed: {passed}/{len(tasks)}; renderings identical to the CLI's: {same}")
    print("| job | how | seconds |")
    print("| --- | --- | --- |")
    for job, how, secs in rows:
        print(f"| {job} | {how} | {secs:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
