#!/usr/bin/env bash
# The Python part of `.ci/run`: builds `import nxt` with maturin into a virtual
# environment of its own (target/py-venv, made once and reused), checks the type stubs
# against the built module (mypy.stubtest) and runs the pytest suite. It installs into
# that environment only: maturin, pytest and mypy (pinned below), and Ray Data for the
# scale-out test (best effort: without it that test is skipped and says why;
# NXT_PY_RAY=0 leaves it out).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="$PWD/target/py-venv"
want="maturin>=1.9.4,<2 pytest>=7,<10 mypy>=1.10,<2"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if [ "$(cat "$venv/.nxt-requirements" 2>/dev/null)" != "$want" ]; then
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" > "$venv/.nxt-requirements"
fi
if [ "${NXT_PY_RAY:-1}" = 1 ] && ! "$venv/bin/python" -c "import ray.data" 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check "ray[data]>=2.9,<3" ||
    echo "Ray could not be installed: the Ray Data test will be skipped" >&2
fi
export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH"

echo "== python: maturin develop (dev profile, the workspace's artifacts)"
(cd crates/nxt-python && maturin develop --locked --quiet)

echo "== python: stubtest"
python -m mypy.stubtest nxt._nxt
python -m mypy --strict --no-error-summary crates/nxt-python/python/nxt examples/python

echo "== python: pytest"
python -m pytest -q crates/nxt-python/tests
