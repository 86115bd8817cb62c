"""Build the demo database that ``make run`` opens, from real analysis.

Steps, each idempotent (a second ``make run`` only adds what is new):
1. backfill the sample project: ``data/sample`` (planted ruff, mypy and bandit problems)
   replayed as ten weekly commits in ``data/.sample-history`` (see
   :mod:`flext_quality.demo_history`), with coverage measured for real at each commit;
2. backfill this repository's own history (the newest ``--commits`` commits), so the first
   dashboard a newcomer sees has real trend lines;
3. optionally (``--synthetic N``), add N generated projects with a year of history, to see
   the portfolio pages at scale.

Gates come from ``data/demo.toml`` (the dashboard is served with the same file), so the
history shows where each gate was red.

It drives the real command line (``python -m flext_quality``), so what it does is exactly
what a user would do by hand.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from flext_quality.demo_history import build_sample_history

__all__ = ["build_demo_db", "main"]

REPO = Path(__file__).resolve().parents[1]


CONFIG = REPO / "data" / "demo.toml"


def _cli(db: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "flext_quality", "--config", str(CONFIG), "--db", str(db), *args]
    print("$ flext-quality " + " ".join(args), flush=True)
    completed = subprocess.run(argv, cwd=REPO, check=False)
    if completed.returncode != 0:
        print(f"  (step failed with exit code {completed.returncode}; continuing)", flush=True)


def build_demo_db(db: Path, *, commits: int = 40, synthetic: int = 0) -> None:
    """Create or top up the demo database at ``db``."""
    db = db.resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    history = REPO / "data" / ".sample-history"
    build_sample_history(REPO / "data" / "sample", history)
    _cli(db, "backfill", str(history), "--project", "sample")
    if (REPO / ".git").exists():
        _cli(db, "backfill", ".", "--project", "flext-quality", "--commits", str(commits))
    else:
        # An unpacked archive has no history of its own: one collect is the best we can do.
        _cli(db, "collect", ".", "--project", "flext-quality")
    if synthetic:
        _cli(db, "demo", "--projects", str(synthetic), "--days", "365", "--top-up")


def main() -> None:
    """Command-line entry: ``python -m flext_quality.demo_db --db PATH``."""
    parser = argparse.ArgumentParser(description="Build the demo database from real analysis.")
    parser.add_argument("--db", type=Path, default=Path("data/demo.duckdb"))
    parser.add_argument("--commits", type=int, default=40, help="Newest commits to backfill.")
    parser.add_argument("--synthetic", type=int, default=0, help="Generated projects to add.")
    args = parser.parse_args()
    build_demo_db(args.db, commits=args.commits, synthetic=args.synthetic)
    print(f"demo database ready: {args.db}")


if __name__ == "__main__":
    main()
