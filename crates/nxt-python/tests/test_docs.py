"""The worked examples of the docs run: every ```python block of docs/python.md, of the
README and of the crate's overview (lib.rs), in order, each document in one namespace,
from the repository's root. Blocks marked ```python no-run are skipped (their code is
that of the examples test_parallel.py runs)."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = ["docs/python.md", "README.md", "crates/nxt-python/src/lib.rs"]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def blocks(path: str) -> list[str]:
    text = (ROOT / path).read_text()
    if path.endswith(".rs"):
        lines = []
        for line in text.splitlines():
            if not line.startswith("//!"):
                break
            lines.append(line[4:] if line.startswith("//! ") else line[3:])
        text = "\n".join(lines) + "\n"
    return FENCE.findall(text)


@pytest.mark.parametrize("path", DOCS)
def test_the_python_examples_run(path, capsys):
    found = blocks(path)
    assert found, f"{path} has no ```python example"
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        namespace: dict = {"__name__": "docs"}
        for i, code in enumerate(found):
            exec(compile(code, f"{path} (python block {i + 1})", "exec"), namespace)
    finally:
        os.chdir(cwd)


def test_no_run_blocks_are_few_and_marked():
    text = (ROOT / "docs/python.md").read_text()
    assert text.count("```python no-run") == 2
