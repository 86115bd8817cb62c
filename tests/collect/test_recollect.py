"""Collecting a stored commit again while an analyzer fails keeps what it measured before."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from collect_support import SAMPLE, git

from collectors.earlier import KEPT_NOTE
from flext_quality.cli import main
from flext_quality.jobs import collect_cached
from flext_quality.settings import Settings
from storage.store import MetricStore

TOOLS = ["ruff", "mypy", "bandit", "complexity"]
# Answers --version as mypy does, then crashes on every real run.
CRASHING_MYPY = (
    "import sys\n"
    "if '--version' in sys.argv:\n"
    "    print('mypy 2.4.1 (compiled: yes)')\n"
    "    raise SystemExit(0)\n"
    "print('error: INTERNAL ERROR -- simulated crash', file=sys.stderr)\n"
    "raise SystemExit(2)\n"
)


def _committed_sample(tmp_path: Path) -> Path:
    """The sample project as a repository of one commit."""
    project = tmp_path / "sample"
    shutil.copytree(SAMPLE, project)
    git(project, "init", "-q")
    git(project, "add", ".")
    git(project, "commit", "-q", "-m", "one commit", date="2026-01-05T10:00:00+00:00")
    return project


def _settings(tmp_path: Path, store: MetricStore, **executables: list[str]) -> Settings:
    return Settings(db=store.path, allowed_roots=[tmp_path],
                    collect={"executables": executables, "cache_dir": tmp_path / "cache"})


def test_a_tool_failing_on_a_measured_commit_keeps_its_earlier_results(tmp_path: Path) -> None:
    project = _committed_sample(tmp_path)
    store = MetricStore(tmp_path / "q.duckdb")
    first = collect_cached(_settings(tmp_path, store), store, project, project="s", tools=TOOLS)
    assert first.run.status == "succeeded" and first.measures["mypy.errors"] > 0
    store.append_run(first)
    mypy_findings = store.fetch("SELECT count(*) FROM findings WHERE tool = 'mypy'")[0][0]
    assert mypy_findings == first.measures["mypy.errors"]

    fake = tmp_path / "mypy_crash.py"
    fake.write_text(CRASHING_MYPY)
    crashing = _settings(tmp_path, store, mypy=[sys.executable, str(fake)])
    again = collect_cached(crashing, store, project, project="s", tools=TOOLS)
    store.append_run(again)
    mypy = next(t for t in again.tools if t.tool == "mypy")
    assert again.run.status == "partial" and mypy.status == "failed"  # CI still sees the crash
    assert mypy.error is not None and "mypy stopped with code 2: error: INTERNAL ERROR" in mypy.error
    measured = KEPT_NOTE.format(measured=f"{first.run.started_at:%Y-%m-%d %H:%M:%S}")
    assert mypy.error.endswith(measured)
    # the commit's one run still holds every measure and finding, and the same score
    assert store.fetch("SELECT run_id FROM runs") == [(again.run.run_id,)]
    stored = dict(store.fetch("SELECT metric, value FROM measures"))
    assert stored == first.measures
    assert store.fetch("SELECT count(*) FROM findings WHERE tool = 'mypy'")[0][0] == mypy_findings

    # once more (the kept results are kept again), then with another mypy configuration:
    # the earlier results no longer describe what mypy would say, so they are not kept
    third = collect_cached(crashing, store, project, project="s", tools=TOOLS)
    assert third.measures == first.measures
    assert next(t.error for t in third.tools if t.tool == "mypy").endswith(measured)  # still then
    store.append_run(third)
    # a mypy that cannot even start has no configuration to compare: nothing is kept
    gone = collect_cached(_settings(tmp_path, store, mypy=["/bin/false"]), store, project, project="s",
                          tools=TOOLS)
    assert gone.run.status == "partial" and "mypy.errors" not in gone.measures
    strict = crashing.model_copy(update={"collect": crashing.collect.model_copy(
        update={"mypy_args": ["--strict"]})})
    changed = collect_cached(strict, store, project, project="s", tools=TOOLS)
    assert changed.run.commit_sha == first.run.commit_sha and store.replaced_run(changed.run)
    assert "mypy.errors" not in changed.measures and not [f for f in changed.findings if f.tool == "mypy"]
    assert changed.measures["ruff.issues"] == first.measures["ruff.issues"]


def test_a_complexity_program_of_ones_own_is_not_served_from_the_cache(tmp_path: Path) -> None:
    from collectors.complexity import WORKER

    project = tmp_path / "sample"
    shutil.copytree(SAMPLE, project)
    store = MetricStore(tmp_path / "q.duckdb")
    ours = collect_cached(_settings(tmp_path, store), store, project, project="s", tools=["complexity"])
    store.append_run(ours)
    assert ours.measures["maintainability.mean"] > 1.0
    # another program in the worker's place: it reports every file's index as 1
    own = tmp_path / "my_complexity.py"
    own.write_text(
        "import json, subprocess, sys\n"
        f"out = subprocess.run([sys.executable, {str(WORKER)!r}, *sys.argv[1:]], capture_output=True,\n"
        "                     text=True, check=True).stdout\n"
        "data = json.loads(out)\n"
        "for result in data.values():\n"
        "    if 'mi' in result:\n"
        "        result['mi'] = 1.0\n"
        "print(json.dumps(data))\n"
    )
    settings = _settings(tmp_path, store, complexity=[sys.executable, str(own)])
    theirs = collect_cached(settings, store, project, project="s", tools=["complexity"])
    tool = theirs.tools[0]
    assert tool.status == "succeeded" and tool.cached_files == 0
    assert theirs.measures["maintainability.mean"] == 1.0


def test_a_dirty_tree_keeps_nothing_from_an_earlier_dirty_run(tmp_path: Path) -> None:
    project = _committed_sample(tmp_path)
    store = MetricStore(tmp_path / "q.duckdb")
    (project / "extra.py").write_text('q: int = "x"\n')  # one more mypy error, uncommitted
    dirty = collect_cached(_settings(tmp_path, store), store, project, project="s", tools=TOOLS)
    assert dirty.run.dirty
    store.append_run(dirty)
    (project / "extra.py").write_text("q: int = 1\n")  # fixed: the earlier count is wrong now
    fake = tmp_path / "mypy_crash.py"
    fake.write_text(CRASHING_MYPY)
    again = collect_cached(_settings(tmp_path, store, mypy=[sys.executable, str(fake)]), store, project,
                           project="s", tools=TOOLS)
    assert again.run.dirty and again.run.status == "partial"
    assert "mypy.errors" not in again.measures and not [f for f in again.findings if f.tool == "mypy"]


def test_collecting_a_commit_again_with_fewer_tools_says_what_went(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _committed_sample(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    db = str(tmp_path / "q.duckdb")
    runner = CliRunner()
    first = runner.invoke(main, ["collect", str(project), "--db", db, "--tools", "ruff,bandit,complexity"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, ["collect", str(project), "--db", db, "--tools", "ruff", "--format", "json"])
    assert json.loads(again.output)["replaced_tools_not_run"] == ["bandit", "complexity"]
    table = runner.invoke(main, ["collect", str(project), "--db", db, "--tools", "ruff"])
    assert "replaced the commit's earlier run" not in table.output  # nothing more went this time
