"""A reader that closes the pipe early (`flext-quality ... | head`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from storage.demo import generate
from storage.store import MetricStore


def test_a_closed_pipe_ends_the_command_quietly_as_sigpipe(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    data = generate(projects=2, metrics=4, days=30, seed=1)
    store.ingest_points(data.points, data.runs)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `| head -0` would be
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flext_quality", "--db", str(store.path), "sql",
             "SELECT * FROM measures", "--format", "csv"],
            stdout=write_end, stderr=subprocess.PIPE, cwd=tmp_path, timeout=120, check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 128 + signal.SIGPIPE  # as a Unix tool ended by SIGPIPE
    assert done.stderr == b""  # no traceback, no "Exception ignored" line
