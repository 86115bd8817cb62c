"""Fixtures of the store tests; the helpers live in ``store_helpers`` (importable from here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make this folder's helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from storage.store import MetricStore


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    """An empty store with its schema created."""
    s = MetricStore(tmp_path / "q.duckdb")
    s.ensure_schema()
    return s
