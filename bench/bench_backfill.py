"""Benchmark: git history backfill against a naive per-commit loop and against ``wily build``.

On a real history nobody here wrote (successive releases of ``rich``, built by
``bench/setup_backfill.py`` under ``bench/.work/``), in one run:

1. **backfill**: ``flext-quality backfill`` with ruff + bandit + complexity on a fresh database
   (cold cache), wall time and cache hit rate;
2. **naive baseline**: check out each commit (a clone in a temporary folder) and run the same
   collect pipeline, without any cache, on everything;
3. **wily**: ``wily build`` with its default operators over the same commits (its own venv);

then prints the ratios, and checks that backfill's stored measures and findings equal the
naive loop's for every commit (exactness). Targets: >= 5x faster than naive and than wily.

    python bench/bench_backfill.py [--releases 24] [--skip-wily]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from setup_backfill import HISTORY, WORK, build_history, install_wily  # noqa: E402

from collectors.base import CollectOptions  # noqa: E402
from collectors.pipeline import collect  # noqa: E402

TOOLS = ("ruff", "bandit", "complexity")
CLI = ROOT / ".venv" / "bin" / "flext-quality"


def commits(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "log", "--first-parent", "--format=%H", "--reverse"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def run_backfill(db: Path, *, fresh: bool = True) -> tuple[float, dict[str, object]]:
    """One ``flext-quality backfill`` of the history; ``fresh`` starts from an empty database."""
    if fresh:
        for leftover in (db, Path(f"{db}.wal")):
            leftover.unlink(missing_ok=True)
    env = dict(os.environ, FLEXT_QUALITY_ALLOWED_ROOTS=str(WORK))
    started = time.perf_counter()
    proc = subprocess.run(
        [str(CLI), "backfill", str(HISTORY), "--db", str(db), "--project", "rich",
         "--tools", ",".join(TOOLS), "--format", "json"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"backfill failed: {proc.stderr}")
    return wall, json.loads(proc.stdout)


def stored(db: Path) -> dict[str, tuple[dict[str, float], list[tuple[object, ...]]]]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        result: dict[str, tuple[dict[str, float], list[tuple[object, ...]]]] = {}
        for (sha,) in con.execute("SELECT commit_sha FROM runs").fetchall():
            measures = dict(con.execute(
                "SELECT metric, value FROM measures WHERE commit_sha = ?", [sha]).fetchall())
            findings = sorted(con.execute(
                "SELECT f.tool, f.rule, f.severity, f.path, f.line, f.col, f.message, f.fingerprint "
                "FROM findings f JOIN runs r USING (run_id) WHERE r.commit_sha = ?", [sha]).fetchall())
            result[str(sha)] = (measures, findings)
        return result
    finally:
        con.close()


def run_naive(shas: list[str]) -> tuple[float, dict[str, tuple[dict[str, float], list[tuple[object, ...]]]]]:
    results: dict[str, tuple[dict[str, float], list[tuple[object, ...]]]] = {}
    with tempfile.TemporaryDirectory(prefix="naive-", dir=WORK) as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(HISTORY), str(clone)], check=True)
        options = CollectOptions(allowed_roots=(WORK,), concurrency=os.cpu_count() or 2)
        started = time.perf_counter()
        for sha in shas:
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--detach", sha], check=True)
            run = collect(clone, project="rich", tools=TOOLS, options=options, trigger="manual")
            findings = sorted(
                (f.tool, f.rule, f.severity, f.path, f.line, f.col, f.message, f.fingerprint)
                for f in run.findings
            )
            results[sha] = ({k: float(v) for k, v in run.measures.items()}, findings)
        return time.perf_counter() - started, results


def run_wily(wily: Path, count: int) -> float:
    with tempfile.TemporaryDirectory(prefix="wily-", dir=WORK) as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(HISTORY), str(clone)], check=True)
        started = time.perf_counter()
        proc = subprocess.run([str(wily), "build", "rich", "-n", str(count)], cwd=clone,
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"wily build failed: {proc.stderr[-2000:]}")
        return wall


def main() -> None:
    """Run the three contenders and print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=24)
    parser.add_argument("--skip-wily", action="store_true")
    args = parser.parse_args()
    versions = build_history(args.releases)
    shas = commits(HISTORY)
    lines = sum(p.read_text(encoding="utf-8").count("\n") for p in (HISTORY / "rich").rglob("*.py"))
    print(f"history: {len(shas)} commits (rich {versions[0]}..{versions[-1]}), "
          f"{lines} lines at the newest; tools: {', '.join(TOOLS)}; cores: {os.cpu_count()}")

    db = WORK / "bench-backfill.duckdb"
    backfill_s, summary = run_backfill(db)
    print(f"backfill (cold cache):  {backfill_s:8.1f} s  runs stored {summary['stored']}, files analysed "
          f"{summary['files_analysed']}, served from cache {summary['files_cached']} "
          f"(hit rate {float(summary['hit_rate']):.1%})")
    resumed_s, again = run_backfill(db, fresh=False)
    print(f"backfill again (no-op): {resumed_s:8.1f} s  runs stored {again['stored']}")

    naive_s, naive = run_naive(shas)
    print(f"naive checkout loop:    {naive_s:8.1f} s  ({len(shas)} fresh collects, no cache)")
    ours = stored(db)
    same = sum(1 for sha in shas if ours.get(sha) == naive.get(sha))
    print(f"exactness: {same}/{len(shas)} commits with identical measures and findings")
    print(f"speed-up vs naive: {naive_s / backfill_s:.1f}x (target >= 5x)")

    if not args.skip_wily:
        wily = install_wily()
        wily_s = run_wily(wily, len(shas))
        print(f"wily build (default):   {wily_s:8.1f} s")
        print(f"speed-up vs wily: {wily_s / backfill_s:.1f}x (target >= 5x)")
    shutil.rmtree(WORK / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
