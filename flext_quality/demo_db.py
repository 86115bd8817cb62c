"""Build the demo database that ``make run`` opens.

Steps (each idempotent, so a second ``make run`` only adds what is new):
1. a few generated projects with a year of realistic history (deterministic, seed 42), so the
   portfolio pages have something to compare;
2. real analysis: the committed sample project in ``data/sample`` and this repository's own
   git history (added by the collect and backfill work).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from storage.demo import generate
from storage.store import MetricStore

__all__ = ["build_demo_db", "main"]


def build_demo_db(db: Path) -> None:
    """Create or top up the demo database at ``db``."""
    store = MetricStore(db)
    store.ensure_schema()
    has_demo = store.fetch("SELECT count(*) FROM runs WHERE project LIKE 'project-%'")[0][0]
    if not has_demo:
        data = generate(projects=6, metrics=16, days=365, seed=42,
                        end=datetime.now(UTC).replace(tzinfo=None, microsecond=0))
        store.ingest_points(data.points, data.runs)


def main() -> None:
    """Command-line entry: ``python -m flext_quality.demo_db --db PATH``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, default=Path("data/demo.duckdb"))
    args = parser.parse_args()
    build_demo_db(args.db)
    print(f"demo database ready: {args.db}")


if __name__ == "__main__":
    main()
