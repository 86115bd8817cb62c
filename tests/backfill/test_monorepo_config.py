"""A monorepo's configuration above the project folder applies in backfill as in collect.

ruff and mypy, run by hand in ``libs/core`` of a checkout, read the nearest configuration in
that folder or a folder above it up to the repository root. A backfill of ``libs/core`` must
store, commit by commit, exactly what ``collect`` stores for a checkout of that commit, and
what the tools themselves report there, including across commits that change only a
configuration file above the project (they are walked: they change the project's results).
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from collectors.backfill import BackfillRequest, backfill
from collectors.base import CollectOptions
from collectors.discovery import discover_files
from collectors.gitwalk import list_commits, list_config_above
from collectors.pipeline import collect
from collectors.projectconfig import OuterConfig
from collectors.registry import ADAPTERS
from collectors.runner import resolve_executable
from collectors.stored_cache import StoredFileCache
from storage.blob_cache import BlobCache
from storage.store import MetricStore

from .conftest import checkout_copy, fresh_snapshot, stored_snapshot
from .gitrepo import GitRepo

T0 = datetime(2024, 6, 3, 9, 0)
PER_FILE = ("ruff", "bandit", "complexity")
TOOLS = (*PER_FILE, "mypy")

ROOT_PYPROJECT = """[project]
name = "mono"
version = "0.1"
requires-python = ">=3.8"

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["F", "E", "I", "UP"]

[tool.mypy]
strict = true
"""
# only requires-python changes: ruff's [tool.ruff] (and so config_hash) stays, its target
# version (and so the UP findings) does not, so a cached result must not be served again
ROOT_PYPROJECT_311 = ROOT_PYPROJECT.replace(">=3.8", ">=3.11")
# closer to the project than the root: ruff and mypy take these from the commit adding them on
LIBS_RUFF = 'line-length = 60\n\n[lint]\nselect = ["E", "F", "B"]\n'
LIBS_SETUP_CFG = "[mypy]\ndisallow_untyped_defs = True\n"
# the project's own pyproject.toml has no tool section: ruff and mypy look past it
CORE_PYPROJECT = '[project]\nname = "core"\n'
MOD = """import sys, os
from typing import List


def f(x):
    return x


def total(values: List[int]) -> int:
    l = 0
    return sum(values) + l


y = f(1)
"""
UTIL = "def helper(a, b):\n    return a + b\n"


def plant_monorepo(root: Path) -> tuple[GitRepo, list[str]]:
    """Five commits of ``libs/core``; two of them change only configuration above it."""
    repo = GitRepo(root)
    # before the project exists, a configuration change above it is no part of its history
    repo.commit("repository", T0 - timedelta(days=2), {"pyproject.toml": "[tool.ruff]\n"})
    repo.commit("other", T0 - timedelta(days=1), {"other/x.py": "X = 1\n"})
    shas = [
        repo.commit("start", T0, {
            "pyproject.toml": ROOT_PYPROJECT,
            "libs/core/pyproject.toml": CORE_PYPROJECT, "libs/core/mod.py": MOD,
            "libs/core/sub/__init__.py": "", "libs/core/sub/util.py": UTIL,
        }),
        repo.commit("edit util", T0 + timedelta(days=1), {
            "libs/core/sub/util.py": UTIL + "\n\ndef twice(a: int) -> int:\n    return 2 * a\n",
        }),
        repo.commit("root targets 3.11", T0 + timedelta(days=2), {"pyproject.toml": ROOT_PYPROJECT_311}),
        repo.commit("libs configuration", T0 + timedelta(days=3), {
            "libs/ruff.toml": LIBS_RUFF, "libs/setup.cfg": LIBS_SETUP_CFG,
        }),
        repo.commit("more code", T0 + timedelta(days=4), {
            "libs/core/extra.py": "import subprocess\n\n\ndef run(cmd):\n"
                                  "    return subprocess.call(cmd, shell=True)  # a very long comment\n",
        }),
    ]
    # a commit elsewhere in the repository is not one of the project's
    repo.commit("other work", T0 + timedelta(days=5), {"other/x.py": "X = 2\n"})
    return repo, shas


def by_hand(cwd: Path, *argv: str) -> str:
    """Run one of our pinned tools by hand in ``cwd``."""
    tool = resolve_executable(argv[0], {})
    done = subprocess.run([*tool, *argv[1:]], cwd=cwd, capture_output=True, timeout=300, check=False)
    return done.stdout.decode("utf-8", "replace")


def hand_counts(project: Path) -> dict[str, float]:
    """ruff's and mypy's own counts, run by hand in ``project`` without any option of ours."""
    ruff = json.loads(by_hand(project, "ruff", "check", "--output-format", "json", "--no-cache"))
    mypy = by_hand(project, "mypy", "--output", "json", "--cache-dir", "/dev/null", ".")
    errors = [json.loads(line) for line in mypy.splitlines() if line.startswith("{")]
    return {"ruff.issues": float(len(ruff)),
            "mypy.errors": float(sum(1 for e in errors if e["severity"] == "error"))}


def stored_hashes(store: MetricStore, sha: str) -> dict[str, str]:
    rows = store.fetch(
        "SELECT t.tool, t.config_hash FROM tool_runs t JOIN runs r USING (run_id) WHERE r.commit_sha = ?",
        [sha],
    )
    return {str(tool): str(value) for tool, value in rows}


@pytest.mark.parametrize("batched", [True, False], ids=["prewarmed", "commit-by-commit"])
def test_backfill_of_a_monorepo_project_uses_the_configuration_above_it(
    tmp_path: Path, batched: bool
) -> None:
    repo, shas = plant_monorepo(tmp_path / "mono")
    options = CollectOptions(allowed_roots=(tmp_path,), concurrency=2)
    store = MetricStore(tmp_path / "q.duckdb")
    summary = backfill(
        repo.root / "libs" / "core",
        BackfillRequest(project="core", tools=TOOLS, options=options, chunk=3),
        store=store, collect=collect,
        adapters=[ADAPTERS[t] for t in PER_FILE] if batched else (),
    )
    assert summary.failed == summary.partial == 0
    walked = [row[0] for row in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")]
    # the configuration-only commits too, not the ones elsewhere nor those before the project
    assert walked == shas
    assert summary.files_cached > 0
    counts: list[dict[str, float]] = []
    for index, sha in enumerate(shas):
        project = checkout_copy(repo, sha, tmp_path / f"fresh{index}") / "libs" / "core"
        result = collect(project, project="core", tools=TOOLS, options=options)
        stored = stored_snapshot(store, sha)
        assert stored == fresh_snapshot(result), f"commit {index} differs from collect"
        hand = hand_counts(project)
        measures = stored[0]
        assert {m: measures[m] for m in hand} == hand, f"commit {index} differs from the tools"
        assert stored_hashes(store, sha) == {t.tool: t.config_hash for t in result.tools}
        counts.append(hand)
    hashes = [stored_hashes(store, sha) for sha in shas]
    # the planted changes really change what is measured, so the equalities above mean something
    assert counts[2]["ruff.issues"] > counts[1]["ruff.issues"]  # UP006/UP035 under 3.11
    assert hashes[2]["ruff"] == hashes[1]["ruff"]  # ... with the same [tool.ruff]
    assert hashes[3]["ruff"] != hashes[2]["ruff"] and hashes[3]["mypy"] != hashes[2]["mypy"]
    assert counts[3] != counts[2]
    rules = {row[0] for row in store.fetch("SELECT DISTINCT rule FROM findings")}
    assert {"I001", "UP006", "E501", "no-untyped-def", "no-untyped-call"} <= rules
    paths = {row[0] for row in store.fetch("SELECT DISTINCT path FROM findings WHERE tool = 'ruff'")}
    assert paths == {"mod.py", "extra.py"}  # relative to the project folder, as collect stores them


def test_sub_projects_of_one_repository_never_share_ruff_results(tmp_path: Path) -> None:
    # the same file, the same folder layout and the same root configuration, whose
    # per-file-ignores name one sub-project's path: only the project's place tells them apart
    repo = GitRepo(tmp_path / "two")
    config = '[tool.ruff.lint]\nselect = ["F"]\nper-file-ignores = { "a/*" = ["F401"] }\n'
    files = {"pyproject.toml": config, "a/m.py": "import os\n", "b/m.py": "import os\n"}
    sha = repo.commit("start", T0, files)
    options = CollectOptions(allowed_roots=(tmp_path,), concurrency=2)
    store = MetricStore(tmp_path / "q.duckdb")
    for name in ("a", "b"):
        backfill(repo.root / name, BackfillRequest(project=name, tools=PER_FILE, options=options),
                 store=store, collect=collect, adapters=[ADAPTERS[t] for t in PER_FILE])
    copy = checkout_copy(repo, sha, tmp_path / "fresh")
    issues = {}
    for name in ("a", "b"):
        result = collect(copy / name, project=name, tools=PER_FILE, options=options)
        stored = store.fetch(
            "SELECT value FROM measures m JOIN runs r USING (run_id) "
            "WHERE r.project = ? AND m.metric = 'ruff.issues'", [name])
        hand = json.loads(by_hand(copy / name, "ruff", "check", "--output-format", "json", "--no-cache"))
        assert stored == [(result.measures["ruff.issues"],)] == [(float(len(hand)),)]
        issues[name] = len(hand)
    assert issues == {"a": 0, "b": 1}
    hashes = store.fetch("SELECT DISTINCT config_hash FROM tool_runs WHERE tool = 'ruff'")
    assert len(hashes) == 1  # one configuration: the cache key alone keeps them apart

    # collect reads the backfill's entries for a sub-project, with the same keys
    cache = StoredFileCache(BlobCache(store))
    cache.use_directory(copy / "b", discover_files(copy / "b"))
    cached = collect(copy / "b", project="b", tools=PER_FILE, options=options, file_cache=cache)
    plain = collect(copy / "b", project="b", tools=PER_FILE, options=options)
    assert fresh_snapshot(cached) == fresh_snapshot(plain)
    assert {t.tool: t.cached_files for t in cached.tools} == dict.fromkeys(PER_FILE, 1)


def test_a_symlinked_configuration_above_the_project_keeps_ruff_out_of_the_cache(tmp_path: Path) -> None:
    cache = StoredFileCache(BlobCache(MetricStore(tmp_path / "q.duckdb")))
    layout = {"pkg/__init__.py": "e", "pkg/m.py": "s1"}
    cache.use_tree(layout, outer=OuterConfig("libs/core", {"pyproject.toml": "c1"}))
    keyed = cache.key_for("ruff", "s1")
    cache.use_tree(layout, outer=OuterConfig("libs/core", {"pyproject.toml": "c2"}))
    assert keyed is not None and cache.key_for("ruff", "s1") not in (None, keyed)
    cache.use_tree(layout, outer=OuterConfig("libs/other", {"pyproject.toml": "c1"}))
    assert cache.key_for("ruff", "s1") not in (None, keyed)
    cache.use_tree(layout, outer=OuterConfig("libs/core", {"pyproject.toml": "c1"}, linked=True))
    assert cache.key_for("ruff", "s1") is None
    # other names above the project (mypy's) do not matter to ruff; the root project's keys stay
    cache.use_tree(layout, outer=OuterConfig("libs/core", {"pyproject.toml": "c1", "mypy.ini": "m"}))
    assert cache.key_for("ruff", "s1") == keyed
    cache.use_tree(layout)
    root = cache.key_for("ruff", "s1")
    cache.use_tree(layout, outer=OuterConfig("libs/core", {"libs/mypy.ini": "m"}))
    assert cache.key_for("ruff", "s1") == root


def test_nothing_above_the_temporary_checkout_is_read(tmp_path: Path) -> None:
    # the temporary folder lies inside another repository with a configuration of its own
    scratch = GitRepo(tmp_path / "scratch")
    scratch.write("pyproject.toml", '[tool.ruff.lint]\nselect = ["ALL"]\n\n[tool.mypy]\nstrict = true\n')
    repo = GitRepo(tmp_path / "plain")
    sha = repo.commit("start", T0, {"app/m.py": MOD})
    options = CollectOptions(allowed_roots=(tmp_path,), concurrency=2)
    store = MetricStore(tmp_path / "q.duckdb")
    for project in (repo.root, repo.root / "app"):
        backfill(project, BackfillRequest(project=project.name, tools=TOOLS, options=options),
                 store=store, collect=collect, adapters=[ADAPTERS[t] for t in PER_FILE],
                 tmp_root=scratch.root)
        fresh = checkout_copy(repo, sha, tmp_path / f"fresh-{project.name}")
        result = collect(fresh / project.relative_to(repo.root), project=project.name, tools=TOOLS,
                         options=options)
        commands = {t.tool: t.command for t in result.tools}
        assert "--isolated" in commands["ruff"] and "--config-file=" in commands["mypy"]
        stored = store.fetch(
            "SELECT m.metric, m.value FROM measures m JOIN runs r USING (run_id) WHERE r.project = ?",
            [project.name])
        assert dict(stored) == {k: float(v) for k, v in result.measures.items()}
        hashes = store.fetch(
            "SELECT t.tool, t.config_hash FROM tool_runs t JOIN runs r USING (run_id) "
            "WHERE r.project = ?", [project.name])
        assert dict(hashes) == {t.tool: t.config_hash for t in result.tools}


def test_a_sub_folder_history_holds_the_configuration_commits_above_it(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit("before", T0, {"setup.cfg": "[mypy]\n"})
    first = repo.commit("project", T0 + timedelta(hours=1), {"a/b/app.py": "A = 1\n"})
    config = repo.commit("configuration", T0 + timedelta(hours=2), {
        "a/ruff.toml": "line-length = 90\n", "a/b/c/ruff.toml": "", "a/README.md": "",
        "pyproject.toml/x.py": "",  # a folder with a configuration file's name: not one
    })
    repo.commit("readme", T0 + timedelta(hours=3), {"a/README.md": "more\n"})
    (repo.root / "a" / ".ruff.toml").symlink_to("ruff.toml")
    repo.git("add", "a/.ruff.toml")
    linked = repo.commit("link", T0 + timedelta(hours=4))
    assert [c.sha for c in list_commits(repo.root, prefix="a/b")] == [first, config, linked]
    assert list(list_config_above(repo.root, first, "a/b")) == ["setup.cfg"]
    above = list_config_above(repo.root, linked, "a/b")
    assert sorted(above) == ["a/.ruff.toml", "a/ruff.toml", "setup.cfg"]  # not a/b/c/ruff.toml
    assert above["a/.ruff.toml"].mode == "120000" and above["a/ruff.toml"].mode == "100644"
    assert list_config_above(repo.root, linked, "") == {}
