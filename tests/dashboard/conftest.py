"""Fixtures of the dashboard tests: seeded and empty databases (see dashboard_testkit)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

# Tests import the kit by name; importlib mode does not put this folder on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dashboard_testkit import build_seeded

from storage.store import MetricStore


@pytest.fixture(scope="session")
def seeded_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded database per session (tests that may touch it take a copy)."""
    return build_seeded(tmp_path_factory.mktemp("seed") / "quality.duckdb")


@pytest.fixture
def seeded_db(seeded_master: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded database."""
    target = tmp_path / "quality.duckdb"
    shutil.copyfile(seeded_master, target)
    return target


@pytest.fixture
def empty_db(tmp_path: Path) -> Path:
    """A database with the schema and no data."""
    db = tmp_path / "empty.duckdb"
    MetricStore(db).ensure_schema()
    return db
