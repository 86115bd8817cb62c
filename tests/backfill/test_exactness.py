"""Backfill stores exactly what a fresh `collect` of a checkout of each commit stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collectors.backfill import BackfillRequest, backfill
from collectors.base import CollectOptions
from collectors.discovery import discover_files
from collectors.pipeline import collect
from collectors.registry import ADAPTERS
from collectors.stored_cache import StoredFileCache
from storage.blob_cache import BlobCache
from storage.store import MetricStore

from .conftest import checkout_copy, fresh_snapshot, stored_snapshot
from .gitrepo import GitRepo

PER_FILE = ("ruff", "bandit", "complexity")


def _options(tmp_path: Path) -> CollectOptions:
    return CollectOptions(allowed_roots=(tmp_path,), concurrency=2)




@pytest.mark.parametrize("batched", [True, False], ids=["prewarmed", "commit-by-commit"])
def test_backfill_equals_fresh_collect_at_every_commit(
    planted: tuple[GitRepo, list[str]], tmp_path: Path, batched: bool
) -> None:
    repo, shas = planted
    options = _options(tmp_path)
    tools = (*PER_FILE, "mypy")
    store = MetricStore(tmp_path / "q.duckdb")
    summary = backfill(
        repo.root, BackfillRequest(project="planted", tools=tools, options=options, chunk=4),
        store=store, collect=collect,
        adapters=[ADAPTERS[t] for t in PER_FILE] if batched else (),
    )
    assert summary.stored == len(shas) and summary.failed == 0
    assert summary.files_cached > 0  # unchanged files were not analysed again
    for index, sha in enumerate(shas):
        copy = checkout_copy(repo, sha, tmp_path / f"fresh{index}")
        result = collect(copy, project="planted", tools=tools, options=options, trigger="manual")
        fresh = fresh_snapshot(result)
        assert stored_snapshot(store, sha) == fresh, f"commit {index} differs"
    # the awkward cases really are in the data, so the comparison above means something
    rules = {row[0] for row in store.fetch("SELECT DISTINCT rule FROM findings")}
    assert {"INP001", "S602", "B602", "invalid-syntax"} <= rules
    paths = {row[0] for row in store.fetch("SELECT DISTINCT path FROM findings")}
    assert "planted/renamed.py" in paths and "planted/broken.py" in paths


def test_runs_carry_commit_metadata(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    store = MetricStore(tmp_path / "q.duckdb")
    backfill(
        repo.root,
        BackfillRequest(project="planted", tools=("complexity",), options=_options(tmp_path),
                        max_commits=2),
        store=store, collect=collect,
    )
    rows = store.fetch(
        "SELECT commit_sha, trigger, branch, author, message, committed_at FROM runs ORDER BY committed_at"
    )
    assert [r[0] for r in rows] == shas[-2:]
    assert {r[1] for r in rows} == {"backfill"} and {r[2] for r in rows} == {"main"}
    assert rows[0][3] == "Dev Eloper <dev@example.com>" and rows[1][4] == "fix syntax, more code"
    points = store.fetch("SELECT DISTINCT ts FROM measures ORDER BY ts")
    assert [p[0] for p in points] == [r[5] for r in rows]  # measures sit at commit time
    # one person is one author, whether the commit was backfilled or collected
    collected = collect(repo.root, project="planted", tools=["complexity"], options=_options(tmp_path))
    assert collected.run.author == rows[-1][3] and collected.run.commit_sha == rows[-1][0]


def test_tool_failure_gives_partial_run_and_goes_on(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, _ = planted
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\necho 'radon 9.9' ; exit 3\n")
    crash.chmod(0o755)
    options = CollectOptions(
        allowed_roots=(tmp_path,), executables={"bandit": (str(crash),)}, concurrency=2
    )
    store = MetricStore(tmp_path / "q.duckdb")
    summary = backfill(
        repo.root,
        BackfillRequest(project="planted", tools=("ruff", "bandit"), options=options, max_commits=3),
        store=store, collect=collect, adapters=[ADAPTERS["ruff"], ADAPTERS["bandit"]],
    )
    assert summary.stored == 3 and summary.partial == 3
    statuses = store.fetch("SELECT tool, status, count(*) FROM tool_runs GROUP BY ALL ORDER BY ALL")
    assert statuses == [("bandit", "failed", 3), ("ruff", "succeeded", 3)]
    assert store.fetch("SELECT count(*) FROM measures WHERE metric = 'ruff.issues'")[0][0] == 3
    assert os.path.exists(tmp_path / "q.duckdb")


def test_coverage_only_from_per_commit_files(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, shas = planted
    reports = tmp_path / "reports"
    reports.mkdir()
    for sha, covered in ((shas[-3], 30), (shas[-1], 45)):
        totals = {"num_statements": 60, "covered_lines": covered}
        (reports / f"{sha}.json").write_text(json.dumps({"totals": totals}))
    store = MetricStore(tmp_path / "q.duckdb")
    backfill(
        repo.root,
        BackfillRequest(project="planted", tools=("complexity", "coverage"),
                        options=_options(tmp_path), max_commits=3, coverage_dir=reports),
        store=store, collect=collect,
    )
    rows = store.fetch(
        "SELECT r.commit_sha, m.value FROM runs r LEFT JOIN measures m "
        "ON m.run_id = r.run_id AND m.metric = 'coverage.line_percent' ORDER BY r.committed_at"
    )
    # the middle commit has no report: absent (NULL), never zero
    assert rows == [(shas[-3], 50.0), (shas[-2], None), (shas[-1], 75.0)]
    coverage = dict(store.fetch(
        "SELECT r.commit_sha, t.status FROM runs r JOIN tool_runs t USING (run_id) "
        "WHERE t.tool = 'coverage'"
    ))
    assert coverage == {shas[-3]: "succeeded", shas[-2]: "skipped", shas[-1]: "succeeded"}
    assert not list(repo.root.glob(".flext-backfill-coverage*"))


def test_collect_after_backfill_is_served_from_the_database_cache(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    options = _options(tmp_path)
    store = MetricStore(tmp_path / "q.duckdb")
    backfill(
        repo.root, BackfillRequest(project="planted", tools=PER_FILE, options=options),
        store=store, collect=collect, adapters=[ADAPTERS[t] for t in PER_FILE],
    )
    copy = checkout_copy(repo, shas[-1], tmp_path / "head")
    cache = StoredFileCache(BlobCache(store))
    cache.use_directory(copy, discover_files(copy))
    cached = collect(copy, project="planted", tools=PER_FILE, options=options, file_cache=cache)
    plain = collect(copy, project="planted", tools=PER_FILE, options=options)
    assert fresh_snapshot(cached) == fresh_snapshot(plain)
    records = {t.tool: t for t in cached.tools}
    assert records["bandit"].cached_files == records["bandit"].files > 0
    assert records["complexity"].cached_files == records["complexity"].files > 0
    # two identical empty __init__.py files in different packages are never shared for ruff
    assert records["ruff"].cached_files == records["ruff"].files - 2
