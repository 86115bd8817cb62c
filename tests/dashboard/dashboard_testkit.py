"""Seeded databases and AppTest helpers for the dashboard tests.

``seeded_db``: generated history (storage.demo, deterministic) for a few projects, plus one
project ``acme`` with real run records: tool runs (with a ruff version change), findings that
appear and get fixed, and - when the alerts schema has not made them yet - gate results,
alert states and an outbox created here with the columns the alerts layer promises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from streamlit import dataframe_util
from streamlit.testing.v1 import AppTest

from storage.demo import generate
from storage.models import FindingRecord, MetricSpec, RunRecord, RunResult, ToolRunRecord
from storage.store import MetricStore

END = datetime(2026, 11, 20, 12, 0, 0)
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"

ALERT_DDL = {
    "gate_results": """CREATE TABLE gate_results (run_id VARCHAR, project VARCHAR, gate VARCHAR,
        metric VARCHAR, state VARCHAR, value DOUBLE, threshold DOUBLE, reference_value DOUBLE,
        detail VARCHAR, evaluated_at TIMESTAMP)""",
    "alert_states": """CREATE TABLE alert_states (project VARCHAR, gate VARCHAR, state VARCHAR,
        since TIMESTAMP, since_run_id VARCHAR, consecutive_failures INTEGER,
        last_notified_at TIMESTAMP)""",
    "outbox": """CREATE TABLE outbox (message_id VARCHAR, route VARCHAR, endpoint VARCHAR,
        purpose VARCHAR, project VARCHAR, title VARCHAR, status VARCHAR, attempts INTEGER,
        created_at TIMESTAMP, next_attempt_at TIMESTAMP, delivered_at TIMESTAMP, last_error VARCHAR)""",
}

CATALOGUE = [
    MetricSpec("quality.score", "points", "aim_high", "last", "Composite quality score 0-100", "score"),
    MetricSpec("ruff.issues", "issues", "aim_low", "sum", "ruff findings", "ruff"),
    MetricSpec("coverage.line_percent", "%", "aim_high", "last", "Line coverage", "coverage"),
]


def _finding(rule: str, path: str, line: int, severity: str = "warning", tool: str = "ruff") -> FindingRecord:
    return FindingRecord(
        tool=tool,
        rule=rule,
        severity=severity,
        path=path,
        line=line,
        col=1,
        message=f"{rule} in {path}",
        fingerprint=f"fp-{tool}-{rule}-{path}",
    )


def acme_runs(n: int = 12) -> list[RunResult]:
    """``n`` daily runs of project ``acme`` ending at END, findings come and go."""
    results = []
    base = [
        _finding("F401", "acme/core.py", 3),
        _finding("E711", "acme/db.py", 10),
        _finding("B006", "acme/api.py", 40, "error"),
    ]
    for i in range(n):
        when = END - timedelta(days=n - 1 - i)
        findings = list(base)
        if i >= 4:  # a new finding appears on day 4 ...
            findings.append(_finding("B101", "acme/auth.py", 7, "high", tool="bandit"))
        if i >= 8:  # ... and the E711 one is fixed on day 8
            findings = [f for f in findings if f.rule != "E711"]
        if i % 3 == 0:
            findings.append(_finding("UP006", f"acme/mod{i}.py", 1))
        ruff_version = "0.16.0" if i < 6 else "0.17.6"
        tools = [
            ToolRunRecord(
                "ruff", "succeeded", ruff_version, 1.5 + i / 10, ("ruff", "check"), None, "cfg1", 20
            ),
            ToolRunRecord("bandit", "succeeded", "1.9.4", 2.0, ("bandit", "-r"), None, "cfg2", 20),
            ToolRunRecord(
                "mypy",
                "failed" if i == n - 2 else "succeeded",
                "2.4.1",
                4.0,
                ("mypy",),
                "mypy crashed: INTERNAL ERROR" if i == n - 2
                else "setup.cfg: note: unused section(s): [mypy-colorama.*]",
                "cfg3",
                20,
            ),
        ]
        if i == n - 2:  # no coverage data that day: skipped, which is not a failure
            tools.append(ToolRunRecord(
                "coverage", "skipped", None, 0.0, ("coverage", "json"),
                "no coverage data file (.coverage)", None, 0,
            ))
        run = RunRecord(
            run_id=f"acme-{i:03d}",
            project="acme",
            started_at=when,
            finished_at=when + timedelta(minutes=1),
            status="partial" if i == n - 2 else "succeeded",
            trigger="scheduled" if i % 2 else "ci",
            commit_sha=f"{i:02d}" + "ab" * 19,
            committed_at=when,
            author=("ana", "bo")[i % 2],
            branch="main",
            message=f"commit number {i}",
        )
        measures = {
            "quality.score": 80.0 - i * 1.5,
            "ruff.issues": float(sum(1 for f in findings if f.tool == "ruff")),
            "coverage.line_percent": 70.0 + (i % 4),
        }
        results.append(
            RunResult(run=run, tools=tools, measures=measures, findings=findings, catalogue=CATALOGUE)
        )
    return results


def _insert(con: duckdb.DuckDBPyConnection, table: str, row: dict[str, object]) -> None:
    """Insert the values of ``row`` whose columns ``table`` has (extra keys fill NOT NULLs)."""
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
        ).fetchall()
    ]
    names = [c for c in cols if c in row]
    con.execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [row[c] for c in names],
    )


def seed_alerts(db: Path) -> None:
    """Gate results, states and an outbox for ``acme``.

    Rows go into the alerts layer's tables behind the views when the schema has them, else
    into plain tables created here with the columns of the views' contract.
    """
    with duckdb.connect(str(db)) as con:
        kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
        target = {}
        for name, ddl in ALERT_DDL.items():
            record = {
                "gate_results": "gate_result_record",
                "alert_states": "alert_state_record",
                "outbox": "outbox_record",
            }[name]
            if kinds.get(name) == "VIEW" and record in kinds:
                target[name] = record
            elif name not in kinds:
                con.execute(ddl)
                target[name] = name
            else:
                target[name] = name
        for i in range(12):
            when = END - timedelta(days=11 - i)
            score = 80.0 - i * 1.5
            state = "fail" if score < 70 else "pass"
            _insert(
                con,
                target["gate_results"],
                {
                    "run_id": f"acme-{i:03d}",
                    "project": "acme",
                    "gate": "score-min",
                    "metric": "quality.score",
                    "state": state,
                    "raw_state": state,
                    "value": score,
                    "threshold": 70.0,
                    "reference_value": None,
                    "detail": "",
                    "evaluated_at": when,
                },
            )
        for project, gate_state, since in (
            ("acme", "fail", END - timedelta(days=4)),
            ("project-0001", "pass", END - timedelta(days=30)),
        ):
            _insert(
                con,
                target["alert_states"],
                {
                    "project": project,
                    "gate": "score-min",
                    "state": gate_state,
                    "since": since,
                    "since_run_id": None,
                    "consecutive_failures": 5 if gate_state == "fail" else 0,
                    "last_notified_at": END,
                    "updated_at": END,
                },
            )
        for mid, route, endpoint, status, attempts, delivered, error in (
            ("m1", "ops", "slack://T000/B000/XXXXsecrettokenXXXX", "pending", 2, None, "HTTP 500"),
            ("m2", "mail", "mailtos://bob:hunter2pass@mail.example.com", "delivered", 1, END, None),
        ):
            _insert(
                con,
                target["outbox"],
                {
                    "message_id": mid,
                    "dedup_key": mid,
                    "route": route,
                    "url_index": 0,
                    "endpoint": endpoint,
                    "purpose": "alerts",
                    "project": "acme",
                    "title": "acme: score-min is red",
                    "body": "body",
                    "body_format": "text",
                    "status": status,
                    "attempts": attempts,
                    "created_at": END,
                    "next_attempt_at": END + timedelta(minutes=5),
                    "delivered_at": delivered,
                    "last_error": error,
                },
            )


def build_seeded(db: Path, *, projects: int = 6, days: int = 400) -> Path:
    """The seeded database described at the top of this module."""
    store = MetricStore(db)
    store.ensure_schema()
    data = generate(projects=projects, metrics=20, days=days, seed=42, end=END)
    store.ingest_points(data.points, data.runs)
    for result in acme_runs():
        store.append_run(result)
    seed_alerts(db)
    return db


def run_page(db: Path, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """Start the app on ``db`` and show ``page`` (a file name in dashboard/app_pages)."""
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py").run()
    return at


def figure(at: AppTest, index: int) -> dict[str, Any]:
    """The plotly figure (as JSON) of the ``index``-th chart on the page."""
    spec: dict[str, Any] = json.loads(at.get("plotly_chart")[index].proto.spec)
    return spec


# The elements whose text Streamlit reads as Markdown.
MARKDOWN_ELEMENTS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error",
                     "success")


def rendered_links(at: AppTest) -> list[str]:
    """Targets of the links the page's Markdown elements render to (CommonMark, as Streamlit)."""
    md = MarkdownIt("commonmark")
    html = " ".join(md.render(str(e.value)) for kind in MARKDOWN_ELEMENTS for e in getattr(at, kind))
    return re.findall(r'<a href="([^"]*)"', html)


def texts(elements: Iterable[Any]) -> str:
    """All values of some text elements, joined."""
    return " ".join(str(e.value) for e in elements)


def column_labels(table: Any) -> dict[str, str]:
    """Column name -> label of an ``st.dataframe`` element (from its column configuration)."""
    config: dict[str, dict[str, Any]] = json.loads(table.proto.columns or "{}")
    return {name: c["label"] for name, c in config.items() if "label" in c}


def display_values(table: Any) -> pd.DataFrame:
    """The text a styled ``st.dataframe`` shows in each cell (its pandas Styler's display values)."""
    return dataframe_util.convert_arrow_bytes_to_pandas_df(table.proto.arrow_data.styler.display_values)
