"""Benchmark of the dashboard on the 20-million-point database.

Builds (once, in ``bench/.work/``) the foundation's benchmark database: storage.demo.generate
1,000 projects x 20 metrics x 1,000 days = 20,000,000 points, ingested with
``MetricStore.ingest_points`` in chunks of projects. Then renders the Overview and the Project
trends pages in ``streamlit.testing.v1.AppTest`` with a cold cache (a fresh process-level
cache clear before each), against a warm rerun as the baseline measured in the same run, and
prints the resident memory of the process that rendered them (the same Python process type
that ``streamlit run`` uses) and of a real ``flext-quality dashboard`` server after loading
both pages.

Targets: cold render under 2 s per page.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.demo import generate  # noqa: E402
from storage.store import MetricStore  # noqa: E402

WORK = ROOT / "bench" / ".work"
APP = ROOT / "dashboard" / "app.py"
TARGET_S = 2.0
END = datetime(2026, 11, 1)


def build_db(
    path: Path,
    *,
    projects: int = 1_000,
    metrics: int = 20,
    days: int = 1_000,
    chunk: int = 50,
    cluster: bool = False,
) -> Path:
    """Create the benchmark database at ``path`` unless it is already complete."""
    marker = path.with_suffix(".complete")
    if path.exists() and marker.exists():
        return path
    for leftover in (path, Path(f"{path}.wal")):
        leftover.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = MetricStore(path, write_timeout_s=600)
    store.ensure_schema()
    started = time.perf_counter()
    for offset in range(0, projects, chunk):
        size = min(chunk, projects - offset)
        data = generate(projects=size, metrics=metrics, days=days, seed=42 + offset, end=END)

        def rename(frame: pl.DataFrame, offset: int = offset) -> pl.DataFrame:
            index = pl.col("project").str.slice(8).cast(pl.Int64) + offset
            return frame.with_columns(
                pl.format("project-{}", index.cast(pl.String).str.zfill(4)).alias("project"),
                pl.format("b{}-{}", pl.lit(offset), pl.col("run_id")).alias("run_id"),
            )

        store.ingest_points(rename(data.points), rename(data.runs))
        print(
            f"  built {offset + size}/{projects} projects ({time.perf_counter() - started:.0f}s)", flush=True
        )
    if cluster:
        # Optional: rewrite the rollups ordered by project and metric (what
        # `flext-quality rollup --rebuild` does). Off by default, so that figures hold for a
        # store whose rollups grew run by run, as they do in production.
        store.rebuild_rollups()
    marker.write_text("ok\n", encoding="utf-8")
    return path


def _rss_mb(pid: int | None = None) -> float:
    """Resident memory in MB: of ``pid`` and its children from /proc, else this process's peak."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = 0.0
    for proc in [pid, *_children(pid)]:
        status = Path(f"/proc/{proc}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def _children(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for token in child.read_text().split():
            found += [int(token), *_children(int(token))]
    return found


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_apptest(db: Path) -> dict[str, float]:
    """Cold and warm render times of Overview and Project trends in AppTest."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["FLEXT_QUALITY_DB"] = str(db)
    # Warm the process (imports, schema check) so that "cold" means a cold *data cache*.
    warm_up = AppTest.from_file(str(APP), default_timeout=300)
    warm_up.run()
    figures: dict[str, float] = {}
    for label, preset in (("90 days", "90 days"), ("all", "all")):
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=300)
        cold = _timed(at.run)
        if at.exception:
            raise SystemExit(f"overview failed: {at.exception[0].value}")
        warm = _timed(at.run)
        if label == "90 days":
            figures["overview cold s"], figures["overview warm s"] = cold, warm
        at.switch_page("app_pages/trends.py").run()
        st.cache_data.clear()
        at.radio(key="trend_range").set_value(preset)
        cold = _timed(at.run)
        if at.exception:
            raise SystemExit(f"trends failed: {at.exception[0].value}")
        figures[f"trends {label} cold s"] = cold
        figures[f"trends {label} warm s"] = _timed(at.run)
        figures[f"trends {label} points"] = float(sum(len(t["x"]) for t in _figure(at)["data"] if "x" in t))
    figures["apptest process peak RSS MB"] = _rss_mb()
    return figures


def _figure(at: object) -> dict[str, Any]:
    import json

    spec: dict[str, Any] = json.loads(at.get("plotly_chart")[0].proto.spec)  # type: ignore[attr-defined]
    return spec


def bench_server(db: Path) -> dict[str, float]:
    """RSS of a real `flext-quality dashboard` after a browser loaded Overview and trends."""
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        print("  (no /usr/bin/chromium: server memory not measured)")
        return {}
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "flext_quality", "dashboard", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    figures: dict[str, float] = {}
    try:
        figures["server idle RSS MB"] = 0.0
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(chromium),
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            for attempt in range(100):
                try:
                    page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.3)
                    if attempt == 99:
                        raise
            figures["server idle RSS MB"] = _rss_mb(server.pid)
            started = time.perf_counter()
            page.get_by_role("heading", name="Overview").wait_for(timeout=120_000)
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
            figures["browser overview s"] = time.perf_counter() - started
            started = time.perf_counter()
            page.get_by_role("button", name="Open trends").click()
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            figures["browser trends s"] = time.perf_counter() - started
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
            figures["server RSS after both pages MB"] = _rss_mb(server.pid)
            started = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=120_000)
            figures["browser overview reload s"] = time.perf_counter() - started
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return figures


def main() -> None:
    """Build the database if needed, then print the timings and memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=WORK / "dashboard-20m.duckdb")
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--cluster", action="store_true", help="Rebuild the rollups after building.")
    parser.add_argument("--no-server", action="store_true", help="Skip the real-server memory figure.")
    args = parser.parse_args()
    started = time.perf_counter()
    build_db(args.db, projects=args.projects, cluster=args.cluster)
    size_gb = args.db.stat().st_size / 1e9
    print(f"database {args.db} ({size_gb:.1f} GB) ready in {time.perf_counter() - started:.0f}s")
    if args.build_only:
        return
    MetricStore(args.db).ensure_schema()  # a one-off upgrade is not part of a page render
    figures = bench_apptest(args.db)
    if not args.no_server:
        figures.update(bench_server(args.db))
    for name, value in figures.items():
        print(f"  {name:<34} {value:10.3f}")
    for page in ("overview", "trends 90 days", "trends all"):
        cold, warm = figures[f"{page} cold s"], figures[f"{page} warm s"]
        verdict = "ok" if cold < TARGET_S else "OVER TARGET"
        print(
            f"  {page:<18} cold {cold:.2f}s vs warm rerun {warm:.2f}s (x{cold / warm:.1f}); "
            f"target < {TARGET_S:g}s: {verdict}"
        )


if __name__ == "__main__":
    main()
