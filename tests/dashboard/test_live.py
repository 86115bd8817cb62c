"""The dashboard follows new data at once and sends a real test notification."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from dashboard_testkit import END, run_page
from streamlit.testing.v1 import AppTest

from storage.errors import DatabaseBusyError
from storage.models import RunRecord, RunResult
from storage.sandbox import SandboxResult, run_sandboxed
from storage.store import MetricStore


def test_a_new_run_shows_up_without_waiting_for_the_cache(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "overview", monkeypatch)
    assert at.dataframe[0].value.shape[0] == 7
    when = END + timedelta(hours=1)
    MetricStore(seeded_db).append_run(
        RunResult(
            run=RunRecord(
                run_id="late-1", project="zeta", started_at=when, finished_at=when, status="succeeded"
            ),
            measures={"quality.score": 12.5},
        )
    )
    at.run()
    table = at.dataframe[0].value
    assert table.shape[0] == 8
    zeta = table[table["project"] == "zeta"].iloc[0]
    assert zeta["score"] == 12.5


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A local HTTP endpoint that records the JSON bodies posted to it."""
    _Receiver.bodies = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_port}/hook?+X-Token=s3cr3t-token-value", _Receiver.bodies
    finally:
        server.shutdown()
        server.server_close()


def test_send_a_test_notification_reaches_a_real_endpoint(
    seeded_db: Path,
    tmp_path: Path,
    receiver: tuple[str, list[dict[str, object]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, bodies = receiver
    config = tmp_path / "flext-quality.toml"
    config.write_text(f'[[routes]]\npurpose = "alerts"\nname = "ops"\nurls = ["{url}"]\n')
    monkeypatch.setenv("FLEXT_QUALITY_CONFIG", str(config))
    at = run_page(seeded_db, "gates", monkeypatch)
    button = at.button(key="gates_test")
    assert not button.disabled
    button.click().run()
    assert len(bodies) == 1 and "test notification" in str(bodies[0]["title"])
    shown = " ".join(s.value for s in at.success) + " ".join(e.value for e in at.error)
    assert "1 of 1 endpoints reached" in shown, shown
    assert "s3cr3t-token-value" not in shown
    # The message went through the outbox, which the page now lists (masked).
    outbox = at.dataframe[-1].value.to_string()
    assert "flext-quality test notification" in outbox and "s3cr3t-token-value" not in outbox


def test_pages_and_sql_wait_for_a_writer_then_show_its_run(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another process writes, the dashboard waits (retrying read-only) instead of failing."""
    holder = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("writer_holder.py")), str(seeded_db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "holding"
        results: dict[str, object] = {}

        def render() -> None:
            results["at"] = run_page(seeded_db, "overview", monkeypatch)
            results["sql"] = run_sandboxed(seeded_db, "SELECT count(*) AS n FROM runs WHERE project = 'held'")

        # While the writer holds the file, a reader cannot get in: the sandbox says so readably.
        with pytest.raises(DatabaseBusyError, match="busy"):
            run_sandboxed(seeded_db, "SELECT 1", busy_timeout_s=0.3)
        # A page started now waits (read-only retries) rather than failing.
        reader = threading.Thread(target=render)
        reader.start()
        reader.join(timeout=1.0)  # give it time to reach the locked file
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "stored"
        reader.join(timeout=120)
        assert not reader.is_alive()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
    at = results["at"]
    assert isinstance(at, AppTest)
    assert not at.exception and not at.error
    # The page and the sandbox both got through once the writer let go (the run lands right
    # after, so either may or may not include it yet).
    assert at.dataframe[0].value.shape[0] in (7, 8)
    sql = results["sql"]
    assert isinstance(sql, SandboxResult) and sql.frame["n"].to_list()[0] in (0, 1)
