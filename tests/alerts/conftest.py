"""Fixtures of the alert tests; helpers live in ``alert_helpers`` (importable from here)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib: make this folder's helper module importable.
sys.path.insert(0, str(Path(__file__).parent))

from alert_helpers import (
    HttpReceiver,
    RunMaker,
    SmtpSink,
    free_port,
    start_http,
    start_smtp,
)

from storage.store import MetricStore


@pytest.fixture
def store(tmp_path: Path) -> MetricStore:
    """A migrated store in a temporary folder."""
    s = MetricStore(tmp_path / "quality.duckdb")
    s.ensure_schema()
    return s


@pytest.fixture
def make_run(store: MetricStore) -> RunMaker:
    """Appends runs to ``store``."""
    return RunMaker(store)


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A real loopback HTTP receiver."""
    receiver = HttpReceiver(port=0)
    server = start_http(receiver)
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A real loopback SMTP server (aiosmtpd) that keeps every message."""
    sink = SmtpSink(port=free_port())
    controller = start_smtp(sink)
    yield sink
    controller.stop()
