import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def data_dir() -> Path:
    return Path(os.environ.get("NXT_DATA_DIR", ROOT.parent / "shared" / "data"))


@pytest.fixture
def figure2() -> str:
    return (ROOT / "fixtures/paper/figure2.py").read_text()
