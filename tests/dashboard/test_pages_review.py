"""What a manager's walkthrough of the pages found: data shown as written, never as Markdown;
a link to a missing project said so; the chosen project follows to the Gates page; a project
whose runs failed says so on Findings; the SQL page counts in words."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from dashboard_testkit import APP, rendered_links, run_page, texts
from streamlit.testing.v1 import AppTest

from storage.models import RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore

EVIL = "[Session expired](https://evil.example/login)"


def _sql(db: Path, query: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["q"] = query
    at.run()
    return at.switch_page("app_pages/sql.py").run()


def test_a_query_from_a_link_cannot_plant_a_link_in_the_error(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _sql(seeded_db, f'SELECT * FROM "{EVIL}"', monkeypatch)
    shown = texts(at.error) + texts(at.code)
    assert "Session expired" in shown and "evil" in shown
    assert rendered_links(at) == []  # escaped: the brackets show, no link


def test_the_sql_page_counts_one_row_in_the_singular(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _sql(seeded_db, "SELECT 41 + 1 AS answer", monkeypatch)
    assert texts(at.success).startswith("1 row · 1 column · ")


def test_a_link_to_a_missing_project_says_so(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(seeded_db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["project"] = "nope"
    at.run()
    at.switch_page("app_pages/findings.py").run()
    assert "No project named nope in this database" in texts(at.warning)
    picked = at.selectbox(key="project_picker").value
    assert picked != "nope" and at.query_params["project"] in (picked, [picked])
    at.run()  # said once, not on every rerun
    assert "No project named" not in texts(at.warning)


def test_the_project_picked_on_one_page_follows_to_gates_and_runs(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "findings", monkeypatch)
    at.selectbox(key="project_picker").select("acme").run()
    at.query_params.pop("project", None)  # the sidebar's page links carry no ?project=
    at.switch_page("app_pages/gates.py").run()
    assert at.selectbox(key="gates_project").value == "acme"
    at.query_params.pop("project", None)
    at.switch_page("app_pages/runs.py").run()
    assert at.selectbox(key="runs_project").value == "acme"
    assert set(at.dataframe[0].value["project"]) == {"acme"}


def test_findings_of_a_project_whose_only_run_failed_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    when = datetime(2026, 11, 20, 12, 0)
    store.append_run(RunResult(
        RunRecord("r1", EVIL, when, when, "failed"),
        tools=[ToolRunRecord("ruff", "failed", error=f"ruff crashed: {EVIL}")],
    ))
    at = run_page(store.path, "findings", monkeypatch)
    info = texts(at.info)
    assert "The only run of" in info and "failed: no analyzer produced findings" in info
    assert "metrics only" not in info
    assert rendered_links(at) == []  # the project's name is shown as written
