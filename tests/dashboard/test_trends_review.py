"""What a user's walkthrough of Project trends found: the "From" box showed a stale run after a
range change; a hover wrote 28427 as 2.843e+4; the range and metrics were not in the address;
a project's name was read as Markdown."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from dashboard_testkit import APP, END, figure, texts
from streamlit.testing.v1 import AppTest

from dashboard.charts import trend_figure
from storage.models import RunRecord, RunResult
from storage.store import MetricStore

EVIL = "[click](https://evil.example)"
# A Markdown link, or a bare address GFM would link, that nobody escaped.
LINK = re.compile(r"(?<!\\)\]\(|(?<!\\)://")


def trends(db: Path, monkeypatch: pytest.MonkeyPatch, **params: str) -> AppTest:
    """The trends page opened from a link: ``/trends?project=...&range=...``."""
    monkeypatch.setenv("FLEXT_QUALITY_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.query_params.update(params)
    at.run()
    at.switch_page("app_pages/trends.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- 1. "From" names the run that is compared ---------------------------------------------------


class Browser:
    """What a browser shows in the select boxes. A box keeps the value it shows across reruns
    (its id is its key) unless the server sends one (``set_value``); a new box shows its default."""

    def __init__(self) -> None:
        self.shown: dict[str, str] = {}

    def look(self, at: AppTest) -> None:
        for box in at.selectbox:
            if box.proto.set_value:
                self.shown[box.id] = box.proto.raw_value
            elif box.id not in self.shown:
                self.shown[box.id] = box.options[box.proto.default]

    def pick(self, at: AppTest, key: str, index: int) -> None:
        """The user picks the ``index``-th option of the box ``key``."""
        box = at.selectbox(key=key)
        self.shown[box.id] = box.options[index]
        # the box's format function is its run_id -> label dict's lookup
        labels: dict[str, str] = box.format_func.__self__  # type: ignore[attr-defined]
        box.set_value(next(run for run, label in labels.items() if label == box.options[index]))
        at.run()
        self.look(at)

    def showing(self, at: AppTest, key: str) -> str:
        return self.shown[at.selectbox(key=key).id]


def _compared(at: AppTest, browser: Browser) -> tuple[str, str, str]:
    """The runs the page compares, what the browser shows in From, and the Commits tab."""
    box = at.selectbox(key="trend_from")
    commits = next(t.label for t in at.tabs if t.label.startswith("Commits"))
    return box.format_func(box.value), browser.showing(at, "trend_from"), commits


def test_from_names_the_compared_run_after_a_range_change(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = trends(seeded_db, monkeypatch, project="project-0003")
    browser = Browser()
    browser.look(at)
    compared, shown, _ = _compared(at, browser)
    assert shown == compared
    at.radio(key="trend_range").set_value("1 year").run()
    browser.look(at)
    options = at.selectbox(key="trend_from").options
    compared, shown, commits = _compared(at, browser)
    assert compared == options[0]  # the new range compares from its first run ...
    assert shown == compared  # ... and the box says so
    assert commits == f"Commits ({len(options) - 1})"
    assert browser.showing(at, "trend_to") == options[-1]


def test_an_explicit_from_is_kept_within_a_range_and_reset_by_a_new_range(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = trends(seeded_db, monkeypatch, project="project-0003")
    browser = Browser()
    browser.look(at)
    at.radio(key="trend_range").set_value("1 year").run()
    browser.look(at)
    browser.pick(at, "trend_from", 100)
    browser.pick(at, "trend_to", 200)  # another rerun: From stays the user's pick
    options = at.selectbox(key="trend_from").options
    compared, shown, commits = _compared(at, browser)
    assert compared == shown == options[100] and commits == "Commits (100)"
    assert browser.showing(at, "trend_to") == options[200]
    at.radio(key="trend_range").set_value("90 days").run()
    browser.look(at)
    options = at.selectbox(key="trend_from").options
    compared, shown, commits = _compared(at, browser)
    assert compared == shown == options[0] and commits == f"Commits ({len(options) - 1})"
    assert browser.showing(at, "trend_to") == options[-1]


# --- 2. Hover values as people write them --------------------------------------------------------


def _d3(value: Any, spec: str) -> str:
    """``value`` written by a d3-format ``spec``, as plotly does. The specs used here share
    Python's syntax; d3's ``~`` (trim trailing zeros) is what Python's ``g`` does anyway."""
    spec = spec.replace("~", "")
    return format(int(value) if spec.endswith("d") else value, spec)


def _hovers(fig: Any) -> list[str]:
    """Each point's hover with its numbers filled in (dates and names left as they are)."""
    filled = []
    for trace in fig.data:
        template = trace.hovertemplate
        if not template:
            continue
        for i, y in enumerate(trace.y):
            data = trace.customdata[i] if trace.customdata is not None else []

            def value(match: re.Match[str], y: Any = y, data: Any = data) -> str:
                field, index, spec = match.groups()
                number = y if field == "y" else data[int(index)]
                return _d3(number, spec) if spec else str(number)

            filled.append(re.sub(r"%\{(y|customdata\[(\d+)\])(?::([^}]*))?\}", value, template))
    return filled


@pytest.mark.parametrize("grain", ["raw", "day"])
def test_hovers_write_large_and_fractional_values_readably(grain: str) -> None:
    values = {"size.loc": 28427.0, "coverage.line_percent": 87.5, "quality.score": 73.25}
    points = pl.DataFrame(
        {
            "ts": [END - timedelta(days=d) for d in (1, 0) for _ in values],
            "metric": list(values) * 2,
            "value": [v - 1 for v in values.values()] + list(values.values()),
            "min_value": [v - 2 for v in values.values()] * 2,
            "max_value": list(values.values()) * 2,
            "n": [1234, 1, 3] * 2,
            "run_id": ["r1"] * 3 + ["r2"] * 3,
            "commit_sha": ["a" * 40] * 6,
            "author": ["ana"] * 6,
            "message": ["m"] * 6,
        }
    )
    failures = pl.DataFrame(
        {"ts": [END], "metric": ["size.loc"], "gate": ["loc-max"], "value": [28427.0], "commit_sha": ["b"]}
    )
    fig = trend_figure(
        points, list(values), grain, thresholds=[("loc-max", "size.loc", 25000.0)], failures=failures
    )
    shown = " | ".join(_hovers(fig))
    assert "e+" not in shown, shown
    for text in ("<b>28,427</b>", "<b>87.5</b>", "<b>73.25</b>", "gate loc-max: 25,000", "failed<br>28,427"):
        assert text in shown, (text, shown)
    if grain == "day":
        assert "min 28,425, max 28,427, 1,234 points" in shown and ", 1 point<br>" in shown, shown


# --- 3. The range and the metrics are in the address ---------------------------------------------


def test_a_link_opens_on_its_range_and_metrics(seeded_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = trends(
        seeded_db, monkeypatch, project="project-0003", range="1y", metrics="size.loc,coverage.line_percent"
    )
    assert at.radio(key="trend_range").value == "1 year"
    assert at.multiselect(key="trend_metrics").value == ["size.loc", "coverage.line_percent"]
    assert [t["name"] for t in figure(at, 0)["data"] if t["name"] in ("size.loc", "coverage.line_percent")]
    assert "Ignored" not in texts(at.caption)


def test_the_range_and_metrics_picked_are_written_to_the_address(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = trends(seeded_db, monkeypatch, project="project-0003")
    at.radio(key="trend_range").set_value("all").run()
    at.multiselect(key="trend_metrics").select("size.loc").run()
    picked = at.multiselect(key="trend_metrics").value
    assert at.query_params["range"] == "all" and at.query_params["project"] == "project-0003"
    assert at.query_params["metrics"] == ",".join(picked) and "size.loc" in picked
    reloaded = trends(seeded_db, monkeypatch, **at.query_params)
    assert reloaded.radio(key="trend_range").value == "all"
    assert reloaded.multiselect(key="trend_metrics").value == picked


def test_a_links_unknown_range_and_metrics_are_ignored_and_said_once(
    seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = trends(seeded_db, monkeypatch, project="acme", range="5y", metrics=f"nope,{EVIL},ruff.issues")
    assert at.radio(key="trend_range").value == "90 days"
    assert at.multiselect(key="trend_metrics").value == ["ruff.issues"]
    said = texts(at.caption)
    assert "range 5y" in said and "nope" in said and "evil" in said
    assert not LINK.search(said), said  # a metric name from the link is not a link on the page
    assert at.query_params["range"] == "90d" and at.query_params["metrics"] == "ruff.issues"
    at.run()
    assert "Ignored" not in texts(at.caption)


# --- 4. Names from the data are shown as written --------------------------------------------------


def _markdown_texts(at: AppTest) -> str:
    """Every text on the page that Streamlit reads as Markdown."""
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader")
    return " ".join(texts(at.get(kind)) for kind in kinds)


def test_a_project_named_like_a_link_is_not_a_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    for i in range(2):  # runs that stored no metric
        when = END + timedelta(days=i)
        store.append_run(RunResult(RunRecord(f"r{i}", EVIL, when, when, "succeeded")))
    at = trends(store.path, monkeypatch, project=EVIL)
    said = texts(at.info)
    assert "stored no metrics" in said and "evil" in said
    assert not LINK.search(_markdown_texts(at)), _markdown_texts(at)


def test_a_project_named_like_a_link_with_metrics_shows_no_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    for i in range(3):
        when = END + timedelta(days=i)
        run = RunRecord(f"r{i}", EVIL, when, when, "succeeded", message=f"{EVIL} <a href='https://evil.example'>x</a>")
        store.append_run(RunResult(run, measures={EVIL: float(i), "quality.score": 50.0 + i}))
    at = trends(store.path, monkeypatch, project=EVIL)
    at.multiselect(key="trend_metrics").select(EVIL).run()
    assert at.multiselect(key="trend_metrics").value == ["quality.score", EVIL]
    assert not LINK.search(_markdown_texts(at)), _markdown_texts(at)
    line = next(t for t in figure(at, 0)["data"] if t.get("name") == "quality.score")
    assert "<a" not in line["customdata"][0][2] and "&lt;a href" in line["customdata"][0][2]
