"""What pages show a person: SQL results of any type, signed changes, labels, short hashes,
whole-number counts, units and room on the trend chart, and where the SQL result appears."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from dashboard_testkit import APP, CATALOGUE, END, column_labels, display_values, figure, run_page, texts
from streamlit.testing.v1 import AppTest

from dashboard.charts import count_axis, horizontal_bars, trend_figure
from dashboard.data_sql import byte_columns, csv_bytes, csv_hint, parquet_bytes, readable
from dashboard.ui import signed_change
from storage.models import RunRecord, RunResult
from storage.sandbox import PUBLIC_VIEW_NAMES
from storage.schema_alerts import ALERT_VIEWS
from storage.store import MetricStore

# --- SQL results of every type -------------------------------------------------------------


def sql_page(db: Path, query: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The SQL page opened from a shared link (``/sql?q=...``)."""
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params["q"] = query
    at.run()
    at.switch_page("app_pages/sql.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def download(at: AppTest, label: str) -> Any:
    """The download button with this label."""
    return next(b for b in at.get("download_button") if b.proto.label == label)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 'ok' AS x, 1::VARIANT AS v",  # the walkthrough's two examples
        "SELECT * FROM duckdb_settings()",
        "SELECT 1 AS n, [1, 2] AS nested, {'a': 'b'} AS record",
    ],
)
def test_sql_results_csv_can_hold_show_with_both_downloads(
    seeded_db: Path, query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = sql_page(seeded_db, query, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    assert at.main.dataframe[0].value.shape[0] >= 1
    assert not download(at, "Download CSV").proto.disabled
    assert not download(at, "Download Parquet").proto.disabled
    assert "CSV cannot hold" not in texts(at.caption)


def test_sql_result_with_raw_bytes_shows_text_and_disables_only_csv(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = (
        "SELECT 'ok' AS x, 'ab'::BLOB AS b, [1::VARIANT, 'a'::VARIANT] AS l, "
        "{'k': 2::VARIANT} AS s, 12345678901234567890123::BIGNUM AS big"
    )
    at = sql_page(seeded_db, query, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    row = at.main.dataframe[0].value.iloc[0].to_dict()
    assert row == {"x": "ok", "b": "ab", "l": "[1, a]", "s": "{'k': 2}", "big": "12345678901234567890123"}
    assert download(at, "Download CSV").proto.disabled
    assert not download(at, "Download Parquet").proto.disabled
    hint = texts(at.caption)
    # the sandbox already turns a VARIANT (also one inside a list or struct) into text
    assert "CSV cannot hold columns `b`, `big`" in hint and "CAST(col AS VARCHAR)" in hint
    assert "`x`" not in hint


@pytest.mark.parametrize(
    ("query", "shown"),
    [("SELECT INTERVAL 3 DAY AS wait", {"wait": "3 days"}),
     ("SELECT union_value(k := 1) AS u", {"u": "1"})],
)
def test_sql_result_polars_cannot_take_is_shown_as_text(
    seeded_db: Path, query: str, shown: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = sql_page(seeded_db, query, monkeypatch)
    assert not at.error, [e.value for e in at.error]
    assert at.main.dataframe[0].value.iloc[0].to_dict() == shown
    assert not download(at, "Download CSV").proto.disabled


def _duck(query: str) -> pl.DataFrame:
    with duckdb.connect(":memory:") as con:
        return con.sql(query).pl()


def test_byte_columns_are_found_inside_nested_values_and_read_back_as_text() -> None:
    frame = _duck(
        """SELECT 1 AS "a.b", 'x'::BLOB AS "b c", [1::VARIANT] AS l, MAP {'k': 'v'::BLOB} AS m,
                  [[1, 2]] AS fine, 'POINT(1 2)'::GEOMETRY AS g"""
    )
    assert byte_columns(frame) == ["b c", "l", "m", "g"]
    shown = readable(frame)
    assert shown.columns == frame.columns  # names kept, even with a dot or a space
    assert shown.row(0) == (1, "x", "[1]", "{k=v}", [[1, 2]], "POINT (1 2)")
    assert csv_bytes(frame) is None and "`b c`, `l`, `m`, `g`" in csv_hint(frame)
    assert parquet_bytes(frame) is not None
    plain = frame.select("a.b", "fine")
    assert readable(plain) is plain
    assert csv_bytes(plain) == b'a.b,fine\n1,"[[1, 2]]"\n'


# --- Overview: signed changes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.46, "+1.5"),
        (-2.0, "-2.0"),
        (-0.04, "0.0"),  # rounds to zero: no minus sign
        (0.04, "0.0"),
        (-0.0, "0.0"),
        (0.0, "0.0"),
        (None, ""),
        (math.nan, ""),  # pandas turns a missing float into NaN
        (12.0, "+12.0"),
    ],
)
def test_signed_change(value: float | None, text: str) -> None:
    assert signed_change(value) == text


def _steady_project(db: Path) -> Path:
    """A database of one project whose score fell by 0.04 in eleven days (no month of history)."""
    store = MetricStore(db)
    store.ensure_schema()
    for i, (days_ago, score) in enumerate(((10, 50.04), (0, 50.0))):
        when = END - timedelta(days=days_ago)
        run = RunRecord(
            run_id=f"steady-{i}",
            project="steady",
            started_at=when,
            finished_at=when + timedelta(minutes=1),
            status="succeeded",
            trigger="ci",
            commit_sha=f"{i}" * 40,
            committed_at=when,
            author="ana",
            branch="main",
            message="m",
        )
        store.append_run(RunResult(run=run, measures={"quality.score": score}, catalogue=CATALOGUE))
    return db


def test_overview_writes_a_tiny_drop_as_zero_and_a_missing_change_as_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(_steady_project(tmp_path / "steady.duckdb"), "overview", monkeypatch)
    table = at.dataframe[0]
    assert table.value["change_week"].iloc[0] == pytest.approx(-0.04)  # still a number to sort by
    shown = display_values(table).iloc[0]
    assert shown["change_week"] == "0.0"
    assert shown["change_month"] == "" and math.isnan(table.value["change_month"].iloc[0])
    assert table.proto.placeholder == ""  # missing cells stay empty, not "None"


def test_overview_signs_real_changes(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "overview", monkeypatch)
    table = at.dataframe[0]
    values, shown = table.value, display_values(table)
    assert shown.loc[values["project"] == "acme", "change_week"].item() == "-10.5"
    for column in ("change_week", "change_month"):
        assert shown[column].tolist() == [signed_change(v) for v in values[column]]


# --- Gates: readable current state ---------------------------------------------------------


def test_gates_current_state_has_labels_and_says_what_it_counts(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "gates", monkeypatch)
    table = at.dataframe[0]
    assert list(table.proto.column_order) == [
        "project",
        "gate",
        "state",
        "since",
        "consecutive_failures",
        "last_notified_at",
    ]
    labels = column_labels(table)
    assert labels["consecutive_failures"] == "Failed runs in a row"
    assert all(not label.count("_") for label in labels.values())
    assert table.proto.placeholder == ""
    said = texts(at.caption)
    assert "2 gate states, one per project and gate (1 gate over 2 projects) · 1 failing." in said
    at.selectbox(key="gates_project").select("acme").run()
    said = texts(at.caption)
    assert "1 gate state, one per project and gate (1 gate over 1 project) · 1 failing." in said


# --- Runs: a short commit in the table, the full one in the detail -------------------------


def test_runs_table_shows_short_commits_and_the_detail_the_full_one(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "runs", monkeypatch)
    table = at.dataframe[0]
    order = list(table.proto.column_order)
    assert "commit" in order and "commit_sha" not in order and "run_id" not in order
    assert order.index("duration_s") < order.index("author")  # duration and analyzers come first
    runs = table.value
    assert (runs["commit"].str.len() == 10).all()
    assert (runs["commit"] == runs["commit_sha"].str[:10]).all()
    at.multiselect(key="runs_status").select("partial").run()
    partial = "10" + "ab" * 19  # acme-010
    assert at.dataframe[0].value["commit"].tolist() == [partial[:10]]
    assert at.code[0].value == partial


def test_findings_and_outbox_tables_have_labels_and_short_commits(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "findings", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    table = at.main.dataframe[-1]
    labels = column_labels(table)
    shown = [c for c in table.value.columns if c in labels]
    assert shown == list(table.value.columns)  # every column has a label
    assert not any("_" in label for label in labels.values())
    assert labels["first_commit"] == "First commit" and labels["tool"] == "Analyzer"
    commits = table.value["first_commit"]
    assert len(commits) and (commits.str.len() == 10).all()

    at = run_page(seeded_db, "gates", monkeypatch)
    outbox = at.main.dataframe[-1]
    labels = column_labels(outbox)
    assert set(outbox.value.columns) == set(labels)
    assert "dedup_key" not in outbox.value.columns and "body_format" not in outbox.value.columns
    assert labels["next_attempt_at"] == "Next attempt" and labels["endpoint"] == "Endpoint (masked)"
    # the same display rule as `notify --list`: a next attempt only while pending
    rows = {r["status"]: r for r in outbox.value.to_dict("records")}
    assert rows["pending"]["next_attempt_at"] is not None and rows["pending"]["last_error"] == "HTTP 500"
    assert rows["delivered"]["next_attempt_at"] is None or str(rows["delivered"]["next_attempt_at"]) == "NaT"


# --- Findings: whole-number ticks for counts -----------------------------------------------


@pytest.mark.parametrize(
    ("span", "step"), [(0, 1), (1, 1), (6, 1), (7, 2), (12, 2), (13, 5), (31, 10), (61, 20), (1000, 200)]
)
def test_count_axis_steps_are_whole_numbers(span: float, step: int) -> None:
    axis = count_axis(span)
    assert axis["dtick"] == step and axis["tickformat"] == ",d"


def test_findings_charts_never_show_fractions_of_a_finding(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "findings", monkeypatch)
    for index, axis in ((1, "xaxis"), (2, "xaxis"), (0, "yaxis")):  # rules, files, new/fixed
        layout = figure(at, index)["layout"][axis]
        assert layout["dtick"] == 1 and layout["tickformat"] == ",d", (index, layout)
    bars = horizontal_bars(pl.DataFrame({"rule": ["a", "b"], "findings": [1, 1]}), "rule", "findings")
    assert bars.layout.xaxis.dtick == 1


# --- Trends: units, and room for titles and dates ------------------------------------------


def test_trends_axes_carry_the_catalogue_units(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = run_page(seeded_db, "trends", monkeypatch)
    layout = figure(at, 0)["layout"]
    titles = [a["text"] for a in layout["annotations"] if a["text"] in {"quality.score", "ruff.issues"}]
    assert titles == ["quality.score", "ruff.issues"]
    assert layout["yaxis"]["title"]["text"] == "points"
    assert layout["yaxis2"]["title"]["text"] == "issues"


@pytest.mark.parametrize("panels", [1, 2, 3])
def test_trend_panels_leave_room_for_titles_dates_and_legend(panels: int) -> None:
    metrics = [f"m{i}" for i in range(panels)]
    points = pl.DataFrame(
        {
            "ts": [END - timedelta(days=d) for d in range(3)] * panels,
            "metric": [m for m in metrics for _ in range(3)],
            "value": [1.0, 2.0, 3.0] * panels,
            "commit_sha": ["abc"] * 3 * panels,
            "author": ["ana"] * 3 * panels,
            "message": ["m"] * 3 * panels,
            "min_value": [1.0] * 3 * panels,
            "max_value": [3.0] * 3 * panels,
            "n": [1] * 3 * panels,
        }
    )
    fig = trend_figure(points, metrics, "raw", units={"m0": "%"})
    layout = fig.layout
    plot_px = layout.height - layout.margin.t - layout.margin.b
    axes = [layout["yaxis" if i == 0 else f"yaxis{i + 1}"] for i in range(panels)]
    for upper, lower in itertools.pairwise(axes):
        gap_px = (upper.domain[0] - lower.domain[1]) * plot_px
        assert gap_px >= 50, "the next panel's title needs a gap of its own"
    legend_top_px = -layout.legend.y * plot_px
    assert legend_top_px >= 40, "the legend must start below the two-line date ticks"
    assert layout.margin.b >= legend_top_px + 40, "the bottom margin must hold ticks and legend"
    assert layout.yaxis.title.text == "%"
    assert all(not axis.title.text for axis in axes[1:])  # no unit known, no title


# --- SQL: the result under the query box, every public view in the list --------------------


def test_a_shared_link_shows_the_result_right_under_the_query(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = sql_page(seeded_db, "SELECT 41 + 1 AS answer", monkeypatch)
    kinds = [type(e).__name__ for e in at.main.children.values()]
    between = kinds[kinds.index("TextArea") + 1 : kinds.index("Dataframe")]
    assert between == ["Button", "Success"], kinds  # the Run button and the row count, nothing else
    assert "Expander" not in kinds
    assert at.main.dataframe[0].value["answer"].tolist() == [42]


def test_views_list_is_every_view_the_storage_layer_declares(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = run_page(seeded_db, "sql", monkeypatch)
    listed = {e.label for e in at.sidebar.expander}
    assert listed == {*PUBLIC_VIEW_NAMES, *ALERT_VIEWS}
    assert "job_runs" in listed
    assert not at.main.expander
