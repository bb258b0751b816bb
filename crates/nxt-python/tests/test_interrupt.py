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


def test_ctrl_c_interrupts_verify():
    # 8 checks of 30 s each on 2 workers would take 120 s.
    elapsed = interrupt("verify(tasks, jobs=2, timeout=30.0)")
    assert elapsed < 5.0


def test_ctrl_c_interrupts_trace():
    elapsed = interrupt('trace("while True:\\n    pass\\n", timeout=30.0)')
    assert elapsed < 5.0


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
