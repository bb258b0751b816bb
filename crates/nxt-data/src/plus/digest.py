# nxt: a digest of a value's canonical form (docs/benchmarks-data.md), for expected
# outputs too large to keep as source. Two values of the builtin types (numbers, str,
# bytes, None, lists, tuples, dicts, sets, and their subclasses) that are equal with
# `==` have the same digest: 1, 1.0 and True agree, -0.0 and 0.0 agree, dicts and sets
# do not depend on their order. Other objects are digested by their type and repr. Two
# departures from `==`: NaN agrees with NaN, and numbers of other types (Fraction,
# Decimal) do not agree with equal ints or floats.
import hashlib as _nxt_hashlib

_NXT_DIGEST_LIMIT = 64 << 20
_NXT_NUMBER_TYPES = (int, float, bool)
_NXT_INF = float("inf")


class _NxtTooLarge(Exception):
    pass


def _nxt_digest(value):
    """'sha256:' and 64 hex digits; 'too large' past 64 MiB of canonical form."""
    budget = [_NXT_DIGEST_LIMIT]
    h = _nxt_hashlib.sha256()
    try:
        _nxt_feed(h, value, budget)
    except _NxtTooLarge:
        return "too large"
    except RecursionError:
        return "too deep"
    return "sha256:" + h.hexdigest()


def _nxt_put(h, data, budget):
    budget[0] -= len(data)
    if budget[0] < 0:
        raise _NxtTooLarge
    h.update(data)


def _nxt_sub(value, budget):
    h = _nxt_hashlib.sha256()
    _nxt_feed(h, value, budget)
    return h.digest()


def _nxt_number(x):
    if isinstance(x, float):
        if x != x:
            return b"nan;"
        if x == _NXT_INF or x == -_NXT_INF:
            return b"+inf;" if x > 0 else b"-inf;"
        if not x.is_integer():
            return b"f" + x.hex().encode() + b";"
    return b"i" + format(int(x), "x").encode() + b";"


def _nxt_feed(h, x, budget):
    t = type(x)
    if t is str:
        data = x.encode("utf-8", "surrogatepass")
        _nxt_put(h, b"s%d:" % len(data), budget)
        _nxt_put(h, data, budget)
    elif t is int or t is float or t is bool:
        _nxt_put(h, _nxt_number(x), budget)
    elif x is None:
        _nxt_put(h, b"N;", budget)
    elif isinstance(x, (list, tuple)):
        n = len(x)
        _nxt_put(h, (b"L%d:" if isinstance(x, list) else b"T%d:") % n, budget)
        if n == 0:
            return
        if all(type(e) is str for e in x):
            lengths = ",".join(map(str, map(len, x))).encode()
            _nxt_put(h, b"s" + lengths + b":", budget)
            _nxt_put(h, "".join(x).encode("utf-8", "surrogatepass"), budget)
        elif all(type(e) in _NXT_NUMBER_TYPES for e in x) and max(map(abs, x)) < 2**53:
            # Exactly representable as floats; + 0.0 turns -0.0 into 0.0.
            _nxt_put(h, b"n" + repr([float(e) + 0.0 for e in x]).encode(), budget)
        else:
            for e in x:
                _nxt_feed(h, e, budget)
    elif isinstance(x, dict):
        pairs = sorted(_nxt_sub(k, budget) + _nxt_sub(v, budget) for k, v in x.items())
        _nxt_put(h, b"D%d:" % len(pairs), budget)
        for pair in pairs:
            _nxt_put(h, pair, budget)
    elif isinstance(x, (set, frozenset)):
        items = sorted(_nxt_sub(e, budget) for e in x)
        _nxt_put(h, b"S%d:" % len(items), budget)
        for item in items:
            _nxt_put(h, item, budget)
    elif isinstance(x, str):
        _nxt_feed(h, str(x), budget)
    elif isinstance(x, (bytes, bytearray)):
        _nxt_put(h, b"b%d:" % len(x), budget)
        _nxt_put(h, bytes(x), budget)
    elif isinstance(x, complex):
        if x.imag == 0:
            _nxt_put(h, _nxt_number(x.real), budget)
        else:
            _nxt_put(h, b"c" + _nxt_number(x.real) + _nxt_number(x.imag), budget)
    elif isinstance(x, _NXT_NUMBER_TYPES):
        _nxt_put(h, _nxt_number(x), budget)
    else:
        text = "%s:%r" % (type(x).__qualname__, x)
        _nxt_put(h, b"?" + text.encode("utf-8", "surrogatepass") + b";", budget)
