"""Ctrl-C interrupts long calls at once: SIGINT during `nxt.verify` or `nxt.trace` of
programs that loop raises KeyboardInterrupt long before the runs' own time limits
(the running checks end in the background at their limits)."""

import signal
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import nxt
    tasks = [nxt.Task(f"t/{i}", "", "while True:\\n    pass\\n", ["assert True"]) for i in range(8)]
    print("ready", flush=True)
    start = time.monotonic()
    try:
        nxt.{call}
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - start:.2f}", flush=True)
        sys.exit(0)
    print("finished", flush=True)
    sys.exit(1)
    """
)


def interrupt(call: str) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.replace("{call}", call)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert out.startswith("interrupted after "), out
    return float(out.split()[-1])


# The runs' own limit. A call that Ctrl-C did not interrupt returns only when its runs
# reach it (KeyboardInterrupt is then raised on its return): telling the two apart is a
# comparison with the limit, not a measure of speed.
LIMIT = 30.0


def test_ctrl_c_interrupts_verify():
    # 8 checks of LIMIT each on 2 workers: 4 * LIMIT without the interrupt.
    elapsed = interrupt(f"verify(tasks, jobs=2, timeout={LIMIT})")
    assert elapsed < LIMIT


def test_ctrl_c_interrupts_trace():
    elapsed = interrupt(f'trace("while True:\\n    pass\\n", timeout={LIMIT})')
    assert elapsed < LIMIT


def test_long_calls_release_the_gil():
    import threading

    import nxt

    ticks = 0
    stop = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        task = nxt.Task("sleep", "", "import time\ntime.sleep(0.5)\n", ["assert True"])
        before = ticks
        assert nxt.verify([task])[0].passed
        during = ticks - before
    finally:
        stop.set()
        thread.join()
    # The other thread ran all along (about 500 ticks; far more than none).
    assert during > 50


RUN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import nxt
    path = sys.argv[1]
    tasks = [nxt.Task(f"t/{i}", "Double x.", f"def double(x):\\n    return x + {i + 1}\\n",
                      ["assert double(2) == 4"]) for i in range(6)]
    config = {"samples_per_task": 1, "hard_threshold": 1.0, "iterations": 1}
    run = nxt.Run.init(path, tasks, config=config)
    run.step(lambda r: ["x"])  # the selection samples nothing
    def slow(request):
        if request.task_id == "t/0":
            print("ready", flush=True)
        time.sleep(0.4)
        return ["```python\\ndef double(x):\\n    return 2 * x\\n```"]
    start = time.monotonic()
    try:
        run.step(slow)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - start:.2f}", flush=True)
    """
)


def test_ctrl_c_interrupts_a_step_and_the_run_continues(tmp_path):
    import nxt

    path = tmp_path / "run.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert out.startswith("interrupted after "), out
    assert float(out.split()[-1]) < 2.0
    # What was sampled is kept; the step samples only the rest.
    run = nxt.Run.open(path)
    calls = []

    def fast(request):
        calls.append(request.task_id)
        return ["```python\ndef double(x):\n    return 2 * x\n```"]

    report = run.step(fast)
    assert report["finished"] and 0 < len(calls) < 6 and report["sampled"] == len(calls)
    assert run.status()["iterations"][1]["passed"] == 6
