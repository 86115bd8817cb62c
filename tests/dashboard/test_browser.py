"""One real-browser end-to-end test: Chromium drives `flext-quality dashboard` on a seeded database.

Loads the Overview, opens a project's trends, waits for the plotly chart, runs one SQL query,
and saves screenshots into ``artifacts/screenshots/`` (printed; git-ignored, kept by CI).
Skipped when ``/usr/bin/chromium`` is missing, unless ``FLEXT_QUALITY_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)"
    if os.environ.get("FLEXT_QUALITY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FLEXT_QUALITY_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> list[str]:
    """Read the server's output until a line contains ``needle`` (blocking reads, no polling).

    A reader thread keeps draining the pipe afterwards so the server never blocks on output.
    """
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stream = proc.stdout

    def pump() -> None:
        for line in stream:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError("the dashboard did not start; its output:\n" + "\n".join(seen))


def _start_dashboard(db: Path, port: int) -> subprocess.Popen[str]:
    """`flext-quality dashboard` on ``db`` in a session of its own (output on one pipe)."""
    return subprocess.Popen(
        [sys.executable, "-m", "flext_quality", "dashboard", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sigterm_to_the_dashboard_command_stops_the_server(seeded_db: Path) -> None:
    """A service manager signals the process it started: no server may outlive it."""
    port = _free_port()
    proc = _start_dashboard(seeded_db, port)
    try:
        seen = _wait_for_line(proc, "You can now view", timeout_s=90)
        assert any(f"dashboard on http://127.0.0.1:{port}" in line for line in seen)
        proc.send_signal(signal.SIGTERM)  # the started process only, not its group
        proc.wait(timeout=30)
        with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 2):
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
        proc.wait()


@pytest.fixture
def served_dashboard(seeded_db: Path) -> Iterator[str]:
    """A real `flext-quality dashboard` process on the seeded database; yields its URL."""
    port = _free_port()
    proc = _start_dashboard(seeded_db, port)
    try:
        _wait_for_line(proc, "You can now view", timeout_s=90)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _settled(page: object, heading: str) -> None:
    """Wait for a page heading, then for Streamlit's 'running' indicator to go away."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)


def test_overview_trends_and_sql_in_a_real_browser(
    served_dashboard: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with capsys.disabled():  # shown in the CI log even though pytest captures output
        print(f"\nscreenshots: {SHOTS}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            page.goto(served_dashboard, wait_until="domcontentloaded")
            _settled(page, "Overview")
            expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible(timeout=30_000)
            page.screenshot(path=str(SHOTS / "1-overview.png"))

            # The worst project (acme, red gate) comes first and is preselected.
            page.get_by_role("button", name="Open trends").click()
            _settled(page, "Project trends")
            chart = page.locator(".js-plotly-plot").first
            chart.wait_for(timeout=60_000)
            expect(chart.locator(".scatterlayer .trace").first).to_be_attached(timeout=30_000)
            assert "project=acme" in page.url
            page.screenshot(path=str(SHOTS / "2-trends.png"))

            page.goto(f"{served_dashboard}/sql", wait_until="domcontentloaded")
            _settled(page, "SQL")
            editor = page.locator("textarea").first
            editor.fill("SELECT project, count(*) AS runs FROM runs GROUP BY project ORDER BY project")
            editor.press("Control+Enter")
            page.get_by_role("button", name="Run query").click()
            expect(page.get_by_text("7 rows · 2 columns")).to_be_visible(timeout=60_000)
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=60_000)
            assert "q=SELECT" in page.url
            page.screenshot(path=str(SHOTS / "3-sql.png"))
        finally:
            browser.close()
    for name in ("1-overview.png", "2-trends.png", "3-sql.png"):
        assert (SHOTS / name).stat().st_size > 10_000
