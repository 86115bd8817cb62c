"""The demo's sample history: real commits, real coverage, ending exactly at data/sample."""

from __future__ import annotations

import filecmp
import json
import subprocess
from datetime import datetime
from pathlib import Path

from flext_quality.demo_history import STEPS, build_sample_history

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b, ignore=[".git", "__pycache__"])
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_history_is_weekly_real_and_ends_at_the_sample(tmp_path: Path) -> None:
    repo = tmp_path / "history"
    assert build_sample_history(SAMPLE, repo, end=datetime(2026, 6, 1)) is True
    log = _git(repo, "log", "--format=%ad|%an|%s", "--date=short").splitlines()
    assert len(log) == len(STEPS)
    assert log[0].startswith("2026-05-31|") and log[-1].startswith("2026-03-29|")
    assert len({line.split("|")[1] for line in log}) == 3
    assert _same_tree(repo, SAMPLE)
    # Coverage was measured by running the tests at the commit that added them.
    added_tests = _git(repo, "log", "--format=%H", "--grep", "Add tests").strip()
    report = json.loads(_git(repo, "show", f"{added_tests}:coverage.json"))
    assert 0 < report["totals"]["percent_covered"] < 100
    assert report["totals"]["num_statements"] > 0
    # A second call keeps the existing history (same shas), so backfill stays idempotent.
    head = _git(repo, "rev-parse", "HEAD")
    assert build_sample_history(SAMPLE, repo) is False
    assert _git(repo, "rev-parse", "HEAD") == head
