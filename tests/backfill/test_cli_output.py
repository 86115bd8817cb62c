"""What backfill, collect and findings print in the small cases: no tools, no lookups, one commit,
no findings."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from flext_quality.cli import main
from storage.store import MetricStore

from .gitrepo import GitRepo

ALLOWED = "(allowed: ruff, mypy, bandit, coverage, complexity, suppressions)"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    monkeypatch.delenv("FLEXT_QUALITY_COLLECT__TOOLS", raising=False)
    return tmp_path


@pytest.mark.parametrize("command", ["backfill", "collect"])
@pytest.mark.parametrize(("tools", "message"), [
    ("", f"no analyzer named {ALLOWED}"),  # an unset "$TOOLS" is not "every tool"
    (" , ", f"no analyzer named {ALLOWED}"),
    ("ruff,pylint", f"unknown analyzer 'pylint' {ALLOWED}"),
])
def test_tools_must_name_analyzers(here: Path, command: str, tools: str, message: str) -> None:
    repo = GitRepo(here / "p")
    repo.commit("one", _when(), {"a.py": "import os\n"})
    result = CliRunner().invoke(main, [command, str(repo.root), "--db", str(here / "q.duckdb"),
                                       "--tools", tools])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())  # click may wrap the line
    assert not (here / "q.duckdb").exists()  # nothing ran


def test_no_cache_lookups_and_one_commit(here: Path) -> None:
    repo = GitRepo(here / "p")
    repo.commit("one", _when(), {"a.py": "import os\n"})
    db = str(here / "q.duckdb")
    # coverage is analysed per commit, never looked up in the file cache
    text = CliRunner().invoke(main, ["backfill", str(repo.root), "--db", db, "--tools", "coverage"])
    assert text.exit_code == 0, text.output
    assert "backfill of p: 1 commit selected, 0 already stored, 1 run stored (0 partial, " in text.output
    assert "served from cache 0;" in text.output  # no "(0%)" of nothing
    again = CliRunner().invoke(main, ["backfill", str(repo.root), "--db", db, "--format", "json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output)
    assert (summary["skipped"], summary["stored"], summary["hit_rate"]) == (1, 0, None)


def test_findings_says_when_there_is_nothing_to_show(here: Path) -> None:
    project = here / "clean"
    project.mkdir()
    (project / "a.py").write_text("VALUE = 1\n")
    db = str(here / "q.duckdb")
    runner = CliRunner()
    for _ in range(2):
        done = runner.invoke(main, ["collect", str(project), "--db", db, "--tools", "suppressions"])
        assert done.exit_code == 0, done.output
    first, second = (str(row[0]) for row in MetricStore(here / "q.duckdb").fetch(
        "SELECT run_id FROM runs ORDER BY started_at"))
    shown = runner.invoke(main, ["findings", "--db", db, "--project", "clean"])
    assert shown.exit_code == 0, shown.output
    assert shown.output == f"no new or fixed findings in run {second[:12]} (against run {first[:12]})\n"
    fixed = runner.invoke(main, ["findings", "--db", db, "--run", first, "--fixed", "--tool", "ruff"])
    assert fixed.output == f"no fixed findings of ruff in run {first[:12]} (first run of this project)\n"
    every = runner.invoke(main, ["findings", "--db", db, "--all"])
    assert every.output == f"no findings in run {second[:12]}\n"
    as_json = runner.invoke(main, ["findings", "--db", db, "--format", "json"])
    assert json.loads(as_json.output) == []  # scripts still get an empty list


def _when() -> datetime:
    return datetime(2024, 3, 4, 10, 0)
