"""Every page in AppTest on a seeded database: renders, reacts to a widget, handles an empty DB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_testkit import APP, build_seeded, figure, run_page, texts
from streamlit.testing.v1 import AppTest

PAGES = ["overview", "trends", "findings", "gates", "runs", "sql"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_seeded_database(
    seeded_db: Path, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, page, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value in {"Overview", "Project trends", "Findings", "Gates and alerts", "Runs", "SQL"}


@pytest.mark.parametrize("page", ["overview", "trends", "findings", "runs"])
@pytest.mark.parametrize("kind", ["empty", "missing"])
def test_empty_database_shows_the_first_run_message(
    empty_db: Path, tmp_path: Path, page: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = empty_db if kind == "empty" else tmp_path / "nothing-here.duckdb"
    at = run_page(db, page, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    message = " ".join(i.value for i in at.info)
    assert "No runs yet" in message and "flext-quality backfill" in message
    if kind == "missing":
        assert not db.exists(), "a reader must not create the database"


@pytest.mark.parametrize("page", ["gates", "sql"])
def test_gates_and_sql_pages_work_on_an_empty_database(
    empty_db: Path, page: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(empty_db, page, monkeypatch)
    assert not at.exception and not at.error


def test_overview_lists_worst_first_and_search_filters(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "overview", monkeypatch)
    table = at.dataframe[0].value
    assert table.shape[0] == 7
    assert table.iloc[0]["project"] == "acme" and table.iloc[0]["gate_state"] == "red"
    scores = table[table["gate_state"] == table.iloc[-1]["gate_state"]]["score"].tolist()
    assert scores == sorted(scores)
    assert {m.label: m.value for m in at.metric}["Red"] == "1"
    at.text_input(key="overview_search").input("0003").run()
    table = at.dataframe[0].value
    assert table["project"].tolist() == ["project-0003"]
    at.text_input(key="overview_search").input("no-such-project").run()
    assert at.dataframe[0].value.shape[0] == 0
    assert any("No project matches" in i.value for i in at.info)


def test_overview_pages_through_projects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = build_seeded(tmp_path / "many.duckdb", projects=60, days=20)
    at = run_page(db, "overview", monkeypatch)
    assert at.dataframe[0].value.shape[0] == 50
    at.selectbox(key="overview_page_size").select(25).run()
    first = at.dataframe[0].value["project"].tolist()
    at.number_input(key="overview_page").set_value(3).run()
    third = at.dataframe[0].value["project"].tolist()
    assert len(first) == 25 and len(third) == 61 - 50 and not set(first) & set(third)


def test_overview_opens_a_projects_trends(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "overview", monkeypatch)
    at.selectbox(key="overview_open").select("project-0002").run()
    at.button(key="overview_open_button").click().run()
    assert at.title[0].value == "Project trends"
    assert at.selectbox(key="project_picker").value == "project-0002"


def test_trends_draws_gates_failures_and_tool_changes(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    assert at.selectbox(key="project_picker").value == "acme"
    fig = figure(at, 0)
    names = [t.get("name") for t in fig["data"]]
    assert {"quality.score", "gate: score-min", "gate failed", "tool change"} <= set(names)
    failed = next(t for t in fig["data"] if t.get("name") == "gate failed")
    assert failed["y"] and all(v < 70 for v in failed["y"])
    score = next(t for t in fig["data"] if t.get("name") == "quality.score")
    assert "commit" in score["hovertemplate"] and score["customdata"][0][1] in {"ana", "bo"}
    change = next(t for t in fig["data"] if t.get("name") == "tool change")
    assert "0.16.0 -> 0.17.6" in change["text"][0]
    assert "granularity: **raw**" in texts(at.caption)


def test_trends_range_preset_switches_to_rollups(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    at.selectbox(key="project_picker").select("project-0001").run()
    assert "granularity: **day**" in texts(at.caption)  # 90 days: daily rollup
    bucket_line = next(t for t in figure(at, 0)["data"] if t.get("name") == "quality.score")
    sha, author = bucket_line["customdata"][-1][:2]
    assert len(sha) == 10 and author in {"ana", "bo", "chen", "dara", "eli"}  # the bucket's last commit
    raw_points = len(figure(at, 0)["data"][1]["x"])
    at.radio(key="trend_range").set_value("30 days").run()
    assert "granularity: **raw**" in texts(at.caption)
    at.radio(key="trend_range").set_value("all").run()
    assert "granularity: **day**" in texts(at.caption)
    all_points = len(next(t for t in figure(at, 0)["data"] if t.get("name") == "quality.score")["x"])
    assert all_points > raw_points


def test_trends_what_changed_between_two_runs(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    labels = [t.label for t in at.tabs]
    assert labels[1:] == ["New findings (1)", "Fixed findings (2)", "Commits (11)"], labels
    at.selectbox(key="trend_from").set_value("acme-009").run()
    labels = [t.label for t in at.tabs]
    # From run 9 to run 11: two commits, no new finding, the UP006 only run 9 had is fixed.
    assert labels[1:] == ["New findings (0)", "Fixed findings (1)", "Commits (2)"], labels
    assert at.tabs[2].dataframe[0].value["rule"].tolist() == ["UP006"]


def test_findings_filters_change_the_tables(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "findings", monkeypatch)
    current = at.dataframe[0].value
    assert set(current["tool"]) == {"ruff", "bandit"}
    assert (current.loc[current["rule"] == "B101", "first_commit"] == ("04" + "ab" * 19)[:10]).all()
    flow = figure(at, 0)
    fixed = next(t for t in flow["data"] if t["name"] == "fixed")
    assert sum(fixed["y"]) < 0
    at.multiselect(key="findings_tools").select("bandit").run()
    assert set(at.dataframe[0].value["tool"]) == {"bandit"}
    at.multiselect(key="findings_tools").unselect("bandit").run()
    at.text_input(key="findings_path").input("api").run()
    assert at.dataframe[0].value["path"].tolist() == ["acme/api.py"]


def test_gates_show_state_history_and_masked_outbox(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "gates", monkeypatch)
    states = at.dataframe[0].value
    assert set(states["state"]) == {"fail", "pass"}
    outbox = at.main.dataframe[-1].value
    shown = outbox.to_string()
    assert "hunter2pass" not in shown and "secrettoken" not in shown and "****" in shown
    assert figure(at, 0)["data"]
    at.selectbox(key="gates_project").select("project-0001").run()
    assert at.dataframe[0].value["state"].tolist() == ["pass"]
    assert at.button(key="gates_test").disabled  # no routes configured


def test_runs_filter_and_tool_errors(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "runs", monkeypatch)
    assert at.dataframe[0].value.shape[0] == 50
    at.multiselect(key="runs_status").select("partial").run()
    runs = at.dataframe[0].value
    assert runs["status"].tolist() == ["partial"] and runs["failed_tools"].tolist() == [1]
    assert any("mypy failed: mypy crashed" in e.value for e in at.error)
    # a skipped analyzer is said, but not as an error
    assert any("coverage skipped: no coverage data" in i.value for i in at.info)
    assert not any("coverage" in e.value for e in at.error)
    bars = figure(at, 0)["data"][0]
    colours = dict(zip(bars["y"], bars["marker"]["color"], strict=True))
    assert sorted(colours) == ["bandit", "coverage", "mypy", "ruff"]
    assert colours["mypy"] == "#dc2626" and colours["bandit"] != "#dc2626"
    at.multiselect(key="runs_status").unselect("partial").select("succeeded")
    at.selectbox(key="runs_project").select("acme").run()  # its newest run: mypy succeeded, with a note
    assert any("mypy succeeded: setup.cfg: note: unused section(s)" in i.value for i in at.info)
    assert not at.error


def test_sql_runs_a_query_keeps_it_in_the_url_and_refuses_writes(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "sql", monkeypatch)
    assert "runs" in [e.label for e in at.expander]
    query = "SELECT project, count(*) AS n FROM runs GROUP BY project ORDER BY project"
    at.text_area(key="sql_text").input(query).run()
    at.button(key="sql_run").click().run()
    assert at.query_params["q"] == [query] or at.query_params["q"] == query
    result = at.main.dataframe[-1].value
    assert result["project"].tolist()[0] == "acme" and result.shape[0] == 7
    at.text_area(key="sql_text").input("DELETE FROM runs").run()
    at.button(key="sql_run").click().run()
    assert any("DELETE statements are not allowed" in e.value for e in at.error)


def test_sql_example_and_row_cap(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_SQL__ROW_LIMIT", "100")
    at = run_page(seeded_db, "sql", monkeypatch)
    at.selectbox(key="sql_example").select("Weekly mean quality score per project").run()
    assert "measures_weekly" in at.text_area(key="sql_text").value
    at.button(key="sql_run").click().run()
    assert at.main.dataframe[-1].value.shape[0] == 100
    assert any("row limit" in w.value for w in at.warning)


def test_sql_query_from_the_url_runs_on_load(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60)
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(seeded_db))
    at.query_params["q"] = "SELECT 41 + 1 AS answer"
    at.run()
    at.switch_page("app_pages/sql.py").run()
    assert at.main.dataframe[-1].value["answer"].tolist() == [42]
    assert json.dumps(at.text_area(key="sql_text").value) == json.dumps("SELECT 41 + 1 AS answer")
