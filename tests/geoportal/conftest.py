"""Fixtures of the embedded services' tests."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture
def var_dir():
    """A var/ folder of root's, under a folder the service account and postgres may traverse (pytest's tmp_path is
    root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="geoportal-var-"))
    folder.chmod(0o755)
    var = folder / "var"
    var.mkdir()
    yield var
    shutil.rmtree(folder)
