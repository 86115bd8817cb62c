"""The words of alerts and reports as people receive them: the plain-text part of a report email,
Markdown that renders, a header that tells the period from the runs, titles said once, and alert
lines that state each fact once. Deliveries go to a real loopback SMTP server and HTTP receiver."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import Message

import pytest
from alert_helpers import T0, HttpReceiver, RunMaker, SmtpSink
from markdown_it import MarkdownIt

from alerts.config import GateSpec
from alerts.evaluate import AlertPolicy, evaluate_run
from alerts.messages import TITLE_LIMIT, AlertEvent, render_alert
from alerts.report import build_report
from alerts.report_render import render_report, report_title
from flext_quality import jobs
from flext_quality.settings import Settings
from storage import FindingRecord
from storage.store import MetricStore

BASE_URL = "https://quality.example.com"
GATES = [{"metric": "bandit.issues.high", "max": 0}, {"metric": "quality.score", "min": 70}]


def _parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
        for part in message.walk() if not part.is_multipart()
    }


def _week_of_runs(make_run: RunMaker) -> datetime:
    """Four daily runs with a new finding in a package's ``__init__.py``, the last one with
    its gates evaluated; returns the report time."""
    finding = FindingRecord("ruff", "F401", "error", "pkg/__init__.py", 3, 1, "unused", "fp-1")
    for day, score in enumerate([72, 75, 71, 78]):
        run_id = make_run({"quality.score": score, "bandit.issues.high": 0, "ruff.issues": 4 + day},
                          at=T0 + timedelta(days=day), findings=[finding] if day == 3 else [])
    evaluate_run(make_run.store, run_id, gates=[GateSpec.model_validate(g) for g in GATES],
                 routes=[], policy=AlertPolicy(), now=T0 + timedelta(days=3))
    return T0 + timedelta(days=4)


def _section(text: str, heading: str, after: str) -> list[str]:
    """The lines of one section of the text report."""
    body = text.split(f"\n{heading}:\n", 1)[1].split(f"\n{after}:\n", 1)[0]
    return [line.strip() for line in body.splitlines()]


def test_report_email_text_part_reads_like_the_text_report(
    store: MetricStore, make_run: RunMaker, smtp_sink: SmtpSink
) -> None:
    now = _week_of_runs(make_run)
    settings = Settings(db=store.path, gates=GATES, dashboard={"base_url": BASE_URL},
                        routes=[{"purpose": "reports", "urls": [smtp_sink.url()]}])
    assert [o.status for o in jobs.send_reports(settings, store, None, period="week",
                                                now=now)] == ["delivered"]
    text_part = _parts(smtp_sink.messages[0][2])["text/plain"].replace("\r\n", "\n")
    lines = text_part.splitlines()

    text_report = render_report([build_report(store, "demo", period="week", now=now)], "text",
                                base_url=BASE_URL)
    metric_lines = _section(text_report, "Metrics", "Gates")
    assert len(metric_lines) == 3
    for expected in metric_lines:  # one line per metric, as in `report --format text`
        assert expected in lines, expected
    assert "quality.score: 78 points (+6 (better)) ▂▅▁█" in lines
    assert "metric" not in lines and "quality.score" not in lines  # no cell on a line of its own
    header = text_report.splitlines()[3]
    assert header.startswith("score 78 ") and header in lines
    assert f"Dashboard: {BASE_URL}/gates?project=demo" in lines  # the link's URL, not only its text
    # sections are apart, as in the text report
    assert "\n\nGates\n- ✅ " in text_part and "\n\nFindings\n- 1 new, 0 fixed\n" in text_part


def test_markdown_report_is_commonmark_with_separate_blocks(
    store: MetricStore, make_run: RunMaker
) -> None:
    now = _week_of_runs(make_run)
    report = build_report(store, "demo", period="week", now=now)
    markdown = render_report([report], "markdown", base_url=BASE_URL)
    assert "•" not in markdown
    tokens = [t for t in MarkdownIt("commonmark").parse(markdown) if t.nesting != -1]
    blocks = [t.tag for t in tokens if t.level == 0]
    assert blocks == [
        "h1", "h2", "p",
        "h3", "ul",  # Metrics
        "h3", "ul",  # Gates
        "h3", "ul",  # Findings
        "h3", "ul",  # Worst regressions
        "p",  # the dashboard link
    ]
    headings = [markdown.splitlines()[t.map[0]] for t in tokens if t.type == "heading_open"]
    assert headings == ["# flext-quality weekly report: demo (2026-03-06)", "## demo",
                        "### Metrics", "### Gates", "### Findings", "### Worst regressions"]
    items = [t for t in tokens if t.type == "list_item_open"]
    assert len(items) == len(report.metrics) + len(report.gates) + 4 + len(report.regressions)
    # a path stays a path (``__init__`` would otherwise render bold)
    inline = [c for t in tokens if t.type == "inline" for c in t.children or []]
    assert "pkg/__init__.py" in [c.content for c in inline if c.type == "code_inline"]
    assert not [c for c in inline if c.type == "strong_open"]
    links = [c.attrs["href"] for c in inline if c.type == "link_open"]
    assert links == [f"{BASE_URL}/gates?project=demo"]


def _header(store: MetricStore, now: datetime, fmt: str = "text") -> str:
    text = render_report([build_report(store, "demo", period="week", now=now)], fmt)
    return next((line for line in text.splitlines() if "period " in line), text)


@pytest.mark.parametrize(("minutes_before", "runs"), [
    ((), "no runs"),
    ((1,), "1 run, at 2026-03-09 07:59"),
    ((13, 7, 1), "3 runs, first 2026-03-09 07:47, last 2026-03-09 07:59"),
])
def test_report_header_tells_the_period_from_its_runs(
    store: MetricStore, make_run: RunMaker, minutes_before: tuple[int, ...], runs: str
) -> None:
    now = T0 + timedelta(days=7)
    make_run({"quality.score": 90}, at=T0 - timedelta(days=3))  # before the period
    for minutes in minutes_before:
        make_run({"quality.score": 90 + minutes}, at=now - timedelta(minutes=minutes))
    expected = f"period 2026-03-02 08:00 to 2026-03-09 08:00 · {runs}"
    for fmt in ("text", "markdown", "html"):
        assert _header(store, now, fmt).endswith(expected + ("</p>" if fmt == "html" else ""))
        assert "run(s)" not in render_report(
            [build_report(store, "demo", period="week", now=now)], fmt)
    data = json.loads(render_report([build_report(store, "demo", period="week", now=now)],
                                    "json"))[0]
    first = now - timedelta(minutes=max(minutes_before)) if minutes_before else None
    last = now - timedelta(minutes=min(minutes_before)) if minutes_before else None
    assert data["runs"] == len(minutes_before)
    assert (data["first_run_at"], data["last_run_at"]) == (
        first and first.isoformat(), last and last.isoformat())


def test_sent_messages_carry_their_title_once(
    store: MetricStore, make_run: RunMaker, smtp_sink: SmtpSink, http_receiver: HttpReceiver
) -> None:
    now = _week_of_runs(make_run)
    hook = f"json://127.0.0.1:{http_receiver.port}/reports"
    settings = Settings(db=store.path, gates=GATES, routes=[
        {"purpose": "reports", "urls": [smtp_sink.url(), hook]},
        {"purpose": "alerts", "urls": [smtp_sink.url(to="alerts@example.com")]},
    ])
    jobs.send_reports(settings, store, None, period="week", now=now)
    title = "flext-quality weekly report: demo (2026-03-06)"
    (request,) = http_receiver.requests
    payload = request.json()
    assert payload["title"] == title
    assert title not in payload["message"] and payload["message"].startswith("## demo\n\n")
    _, _, mail = smtp_sink.messages[0]
    assert mail["Subject"] == title
    for body in _parts(mail).values():
        assert title not in body and "demo" in body
    # printed by the CLI (no separate title), a report still starts with its title
    report = build_report(store, "demo", period="week", now=now)
    assert report_title([report]) == title
    assert render_report([report], "markdown").startswith(f"# {title}\n\n## demo\n\n")
    assert render_report([report], "text").startswith(f"{title}\n\n== demo ==\n")
    assert render_report([report], "html").startswith(f"<h2>{title}</h2>")

    # an alert email: the subject is not repeated as a heading of the body
    red = make_run({"quality.score": 60, "bandit.issues.high": 0}, at=now)
    jobs.evaluate_and_deliver(settings, store, red, now=now)
    _, rcpt, alert = smtp_sink.messages[-1]
    assert rcpt == ["alerts@example.com"]
    assert alert["Subject"] == "flext-quality: demo: RED: quality.score min=70"
    for body in _parts(alert).values():
        assert alert["Subject"] not in body and "quality.score min=70" in body


def test_alert_lines_state_each_fact_once(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = Settings(db=store.path, gates=[
        {"metric": "bandit.issues.high", "max": 0},
        {"metric": "ruff.issues", "max_increase": 5, "name": "lint-growth"},
        {"metric": "quality.score", "max_worsening": 2, "against": "1d", "name": "score-daily"},
    ], routes=[{"purpose": "alerts", "urls": [f"json://127.0.0.1:{http_receiver.port}/a"]}])

    def step(measures: dict[str, float], at: datetime, author: str = "Ada Lovelace") -> None:
        run_id = make_run(measures, at=at, author=author)
        jobs.evaluate_and_deliver(settings, store, run_id, now=at)

    step({"bandit.issues.high": 0, "ruff.issues": 10, "quality.score": 90}, T0 - timedelta(days=2))
    step({"bandit.issues.high": 0, "ruff.issues": 10, "quality.score": 88}, T0)
    assert http_receiver.requests == []
    step({"bandit.issues.high": 1, "ruff.issues": 30, "quality.score": 80}, T0 + timedelta(hours=1),
         author="Bob Breaker <bob@example.com>")
    step({"bandit.issues.high": 0, "ruff.issues": 30, "quality.score": 80}, T0 + timedelta(hours=2))

    red, green = (r.json()["message"] for r in http_receiver.requests)
    # Markdown: "<" and ">" escaped, so that Slack shows them instead of reading a link or a
    # mention (Apprise turns "\<" into "&lt;")
    by = r"commit 003abcdef0 by Bob Breaker \<bob@example.com\>"
    assert red.splitlines() == [
        rf"- **RED: bandit.issues.high max=0**: value 1 vs threshold 0 (rule: \<= 0); previous 0; {by}",
        # a gate with its own name also names the metric; "vs previous": the reference is the
        # previous value, said once
        rf"- **RED: lint-growth**: ruff.issues: value 30 vs threshold 15 (rule: rise \<= 5 vs "
        rf"previous); previous 10; {by}",
        rf"- **RED: score-daily**: quality.score: value 80 vs threshold 88 (rule: fall \<= 2 vs 1d, "
        rf"reference 90); previous 88; {by}",
    ]
    fixed = "fixed in commit 004abcdef0 by Ada Lovelace"  # the commit that turned it green
    assert green.splitlines() == [
        r"- **GREEN again: bandit.issues.high max=0**: value 0 vs threshold 0 (rule: \<= 0); "
        f"previous 1; {fixed}",
        r"- **GREEN again: lint-growth**: ruff.issues: value 30 vs threshold 35 (rule: rise \<= 5 "
        f"vs previous); previous 30; {fixed}",
    ]


def _event(**changes: object) -> AlertEvent:
    fields: dict[str, object] = {
        "kind": "alert", "project": "demo", "gate": "lint-growth", "metric": "ruff.issues",
        "value": 46.0, "threshold": 45.0, "rule": "rise <= 10 vs previous", "rule_against": "previous",
        "tolerance": 0.0, "reference_value": 35.0, "previous_value": 24.0, "detail": "",
        "run_id": "r1", "commit_sha": "59c7f1a18e" + "0" * 30, "author": "Alice", "violation": "",
    }
    fields.update(changes)
    return AlertEvent(**fields)  # type: ignore[arg-type]


def test_a_streak_alert_shows_the_reference_its_threshold_comes_from() -> None:
    # consecutive=2: "previous" is the value before the streak began (24); the threshold 45
    # comes from the run just before this one (35 + 10), which the reader must see
    _, body = render_alert([_event()], "text", link=None)
    assert "value 46 vs threshold 45 (rule: rise <= 10 vs previous, reference 35); previous 24" in body
    _, plain = render_alert([_event(reference_value=24.0, threshold=34.0)], "text", link=None)
    assert "reference" not in plain  # the reference is the previous value: said once


def test_a_title_fits_a_slack_header() -> None:
    title, _ = render_alert([_event(project="team-platform-" + "x" * 200)], "markdown", link=None)
    assert len(title) == TITLE_LIMIT and title.endswith("…")
    short, _ = render_alert([_event(), _event(gate="other", kind="reminder")], "markdown", link=None)
    assert short == "flext-quality: demo: 1 gate(s) RED, 1 gate(s) STILL RED"
