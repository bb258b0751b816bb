# nxt: helpers of the test blocks, after evalplus (docs/benchmarks-data.md).
import signal as _nxt_signal

_nxt_TimeLimitExceeded = type("TimeLimitExceeded", (BaseException,), {})
_nxt_expired = []


class _nxt_time_limit:
    """One input's time limit, max(1 s, 4 x the reference's time) as in evalplus, by
    SIGALRM. Once an input ran out of time the later ones fail at once (evalplus stops
    at the first failure). A program that takes SIGALRM for itself defeats this; the
    check's own time limit still holds."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        if _nxt_expired:
            raise _nxt_TimeLimitExceeded("not run: an earlier input ran out of time")
        seconds = self.seconds

        def alarm(signum, frame):
            _nxt_expired.append(seconds)
            raise _nxt_TimeLimitExceeded("the call took longer than %s s" % seconds)

        self.previous = _nxt_signal.signal(_nxt_signal.SIGALRM, alarm)
        _nxt_signal.setitimer(_nxt_signal.ITIMER_REAL, seconds)
        return self

    def __exit__(self, kind, value, traceback):
        _nxt_signal.setitimer(_nxt_signal.ITIMER_REAL, 0)
        if self.previous is not None:
            _nxt_signal.signal(_nxt_signal.SIGALRM, self.previous)
        if kind is None and _nxt_expired:
            # The program caught the alarm's exception and went on.
            raise _nxt_TimeLimitExceeded("the call took longer than %s s" % self.seconds)
        return False


def _nxt_got(value):
    """The message of a failed comparison: the output, cut at 200 characters."""
    try:
        text = repr(value)
    except BaseException:
        return "got an output that cannot be printed"
    if len(text) > 200:
        text = text[:200] + "..."
    return "got " + text


def _nxt_allclose(a, b, atol, rtol=1e-07):
    """numpy.allclose(a, b, rtol, atol) for numbers and same-shape (nested) lists and
    tuples of numbers: |a - b| <= atol + rtol * |b| everywhere; NaN is close to nothing,
    an infinity only to itself; no broadcasting."""
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))):
            return False
        if len(a) != len(b):
            return False
        return all(_nxt_allclose(x, y, atol, rtol) for x, y in zip(a, b))
    if not (isinstance(a, (int, float, complex)) and isinstance(b, (int, float, complex))):
        return False
    try:
        if a != a or b != b:
            return False
        if abs(a) == float("inf") or abs(b) == float("inf"):
            return a == b
        return abs(a - b) <= atol + rtol * abs(b)
    except (OverflowError, TypeError, ValueError):
        return False


def _nxt_expect(out, expected, atol, exact=None):
    """evalplus's comparison (unsafe_execute): out == expected (or a special oracle's
    verdict, `exact`); failing that, with a tolerance, the same type, the same length
    and numpy.allclose(rtol=1e-07, atol)."""
    if exact is None:
        exact = out == expected
    if not exact and atol != 0:
        assert type(out) == type(expected), _nxt_got(out)
        if isinstance(expected, (list, tuple)):
            assert len(out) == len(expected), _nxt_got(out)
        assert _nxt_allclose(out, expected, atol), _nxt_got(out)
    else:
        assert exact, _nxt_got(out)
