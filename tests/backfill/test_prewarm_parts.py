"""Prewarm: byte-balanced splitting into one tool invocation per core, and no work twice."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from collectors.backfill import BackfillRequest, backfill
from collectors.base import CollectOptions
from collectors.pipeline import collect
from collectors.prewarm import balanced_parts
from collectors.registry import ADAPTERS
from storage.blob_cache import BlobCache
from storage.store import MetricStore

from .gitrepo import GitRepo

T0 = datetime(2024, 5, 6, 9, 0)


def test_parts_cover_every_file_once_and_are_near_equal() -> None:
    rng = random.Random(7)
    weights = {f"f{i}.py": rng.choice([200, 1_000, 5_000, 60_000]) for i in range(97)}
    parts = balanced_parts(weights, 3)
    assert len(parts) == 3
    assert sorted(f for part in parts for f in part) == sorted(weights)
    totals = [sum(weights[f] for f in part) for part in parts]
    assert totals == sorted(totals, reverse=True)  # heaviest first
    # greedy largest-first: no part exceeds another by more than the largest file
    assert totals[0] - totals[-1] <= max(weights.values())
    assert all(part == sorted(part) for part in parts)


def test_one_huge_file_gets_a_part_of_its_own() -> None:
    weights = {"big.py": 100, "a.py": 10, "b.py": 10, "c.py": 10}
    assert balanced_parts(weights, 2) == [["big.py"], ["a.py", "b.py", "c.py"]]
    assert balanced_parts(weights, 5) == [["big.py"], ["a.py"], ["b.py"], ["c.py"]]
    assert balanced_parts({}, 2) == []


def test_each_file_version_is_analysed_once_when_root_files_change_every_commit(tmp_path: Path) -> None:
    # A README edited in every commit puts every commit in its own configuration group; a
    # blob shared by the groups must still be analysed once per tool.
    repo = GitRepo(tmp_path / "docs-heavy")
    files = {f"pkg/m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(6)}
    shas = [repo.commit("start", T0, {"README.md": "v0\n", "pkg/__init__.py": "", **files})]
    for n in range(1, 5):
        shas.append(repo.commit(f"edit {n}", T0 + timedelta(days=n), {
            "README.md": f"v{n}\n", f"pkg/m{n}.py": f"def f{n}(x):\n    return x * {n}\n",
        }))
    store = MetricStore(tmp_path / "q.duckdb")
    tools = ("ruff", "complexity")
    options = CollectOptions(allowed_roots=(tmp_path,), concurrency=2)
    summary = backfill(
        repo.root, BackfillRequest(project="docs", tools=tools, options=options),
        store=store, collect=collect, adapters=[ADAPTERS[t] for t in tools],
    )
    assert summary.stored == len(shas) and summary.failed == 0
    distinct = 7 + 4  # the first commit's 7 files, then one new version per commit
    assert BlobCache(store).count() == len(tools) * distinct
    assert summary.files_analysed == len(tools) * distinct  # nothing analysed twice
