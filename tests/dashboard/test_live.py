"""The dashboard follows new data at once and sends a real test notification."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from dashboard_testkit import END, run_page

from storage.models import RunRecord, RunResult
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
