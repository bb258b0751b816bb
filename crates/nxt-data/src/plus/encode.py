# nxt: how the reference runner records an expected output (docs/benchmarks-data.md).
# encode(value) returns {"enc", "v", "floats"}: "literal" with Python source that
# evaluates to an equal value of the same types (up to 64 KiB), else "pickle" with the
# base64 of its pickle (up to 64 KiB), else "digest" (see _nxt_digest). "floats" is
# evalplus's is_floats(value): a float, or a non-empty list or tuple of floats.
import base64 as _nxt_base64
import pickle as _nxt_pickle

_NXT_INLINE = 64 << 10
_NXT_COLLECTIONS = {}
try:
    import collections as _nxt_collections

    _NXT_COLLECTIONS = {
        _nxt_collections.Counter: "Counter",
        _nxt_collections.OrderedDict: "OrderedDict",
    }
except ImportError:
    pass


def _nxt_is_floats(x):
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    return False


def _nxt_float_source(x):
    if x != x:
        return "float('nan')"
    if x in (float("inf"), float("-inf")):
        return "float('inf')" if x > 0 else "float('-inf')"
    return repr(x)


def _nxt_lit(x, out, size):
    t = type(x)
    if t is bool or x is None or t is str or t is bytes:
        text = repr(x)
    elif t is int:
        try:
            text = repr(x)
        except ValueError:  # more digits than int-to-str allows: hex is not limited
            text = hex(x)
    elif t is float:
        text = _nxt_float_source(x)
    elif t is complex:
        text = "complex(%s, %s)" % (_nxt_float_source(x.real), _nxt_float_source(x.imag))
    elif t is list or t is tuple or t is set or t is frozenset:
        if (t is set or t is frozenset) and not x:
            text = t.__name__ + "()"
        else:
            opening, closing = {list: ("[", "]"), tuple: ("(", ")"), set: ("{", "}"),
                                frozenset: ("frozenset({", "})")}[t]
            out.append(opening)
            size[0] += len(opening)
            for i, item in enumerate(x):
                if i:
                    out.append(", ")
                    size[0] += 2
                if not _nxt_lit(item, out, size):
                    return False
            if t is tuple and len(x) == 1:
                out.append(",")
            out.append(closing)
            size[0] += len(closing) + 1
            return size[0] <= _NXT_INLINE
    elif t is dict or t in _NXT_COLLECTIONS:
        if t is not dict:
            out.append("__import__('collections').%s(" % _NXT_COLLECTIONS[t])
        out.append("{")
        for i, (key, item) in enumerate(x.items()):
            if i:
                out.append(", ")
            if not _nxt_lit(key, out, size):
                return False
            out.append(": ")
            if not _nxt_lit(item, out, size):
                return False
            size[0] += 4
        out.append("}" if t is dict else "})")
        size[0] += 40
        return size[0] <= _NXT_INLINE
    else:
        return False
    out.append(text)
    size[0] += len(text)
    return size[0] <= _NXT_INLINE


def _nxt_literal(value):
    """Python source for value (builtin types only), or None."""
    out = []
    try:
        if _nxt_lit(value, out, [0]):
            return "".join(out)
    except RecursionError:
        pass
    return None


def _nxt_encode(value):
    result = {"floats": _nxt_is_floats(value)}
    source = _nxt_literal(value)
    if source is not None:
        result["enc"] = "literal"
        result["v"] = source
        return result
    try:
        data = _nxt_pickle.dumps(value, 4)
        text = _nxt_base64.b64encode(data).decode("ascii")
        if len(text) <= _NXT_INLINE and _nxt_digest(_nxt_pickle.loads(data)) == _nxt_digest(value):
            result["enc"] = "pickle"
            result["v"] = text
            return result
    except Exception:
        pass
    digest = _nxt_digest(value)
    if not digest.startswith("sha256:"):
        raise ValueError("the output is %s to record (over 64 MiB in canonical form)" % digest)
    result["enc"] = "digest"
    result["v"] = digest
    return result
