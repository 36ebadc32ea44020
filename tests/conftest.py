"""Shared test setup: an isolated translation cache and the fixture models."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_configure(config):
    # Translations go to a fresh cache so tests never depend on a user's cache. Under
    # pytest-xdist the workers inherit the controller's, so a model is translated and
    # compiled once per run, not once per worker (the cache is safe to share: entries
    # are written to a temporary name and renamed into place).
    if "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ["SDREV_CACHE_DIR"] = tempfile.mkdtemp(prefix="sdrev-test-cache-")


@pytest.fixture(scope="session")
def widgets_path() -> Path:
    return FIXTURES / "widgets.mdl"


@pytest.fixture()
def user_model_copy(tmp_path: Path, widgets_path: Path) -> Path:
    """A user's model in a folder of its own, to check nothing is written beside it."""
    folder = tmp_path / "user_models"
    folder.mkdir()
    target = folder / "widgets.mdl"
    target.write_bytes(widgets_path.read_bytes())
    (folder / "widgets.toml").write_bytes(widgets_path.with_suffix(".toml").read_bytes())
    return target
