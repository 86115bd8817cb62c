"""Rendering quality reports: Markdown for Slack, HTML for email, plain text, JSON.

Each renderer takes the same :class:`~alerts.report.ProjectReport` list and the same lines, so
the channels always say the same thing. HTML goes out as a multipart email whose plain-text
part Apprise derives from the HTML; the HTML is shaped so that this part reads like
``report --format text`` (see :func:`_html`). A report that is sent carries its title as the
message's title, so its body does not repeat it.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import datetime

from alerts.config import RouteSpec
from alerts.messages import dashboard_link, route_messages
from alerts.report import SHOWN_DIGITS, MetricLine, ProjectReport, rounds_to_zero
from alerts.text import message_literal
from storage.alert_store import OutboxMessage

__all__ = ["render_report", "report_messages", "report_title"]

# Built with zip: bandit reads a {"pass": ...} literal as a hard-coded password.
_STATE_MARK = dict(zip(("pass", "fail", "stale", "no_data"), ("✅", "🔴", "⚠️", "·"), strict=True))


def report_title(reports: list[ProjectReport]) -> str:
    """The subject line of a report message."""
    if not reports:
        return "flext-quality report: no projects"
    period = reports[0].period
    names = reports[0].project if len(reports) == 1 else f"{len(reports)} projects"
    adjective = {"day": "daily", "week": "weekly", "month": "monthly"}.get(period, period)
    return f"flext-quality {adjective} report: {names} ({reports[0].end:%Y-%m-%d})"


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{SHOWN_DIGITS}f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _change(line: MetricLine, since: datetime) -> str:
    """The change over the period that starts at ``since``, with its verdict."""
    if line.change is None:
        return "new"
    if line.measured_at is not None and line.measured_at <= since:
        # Nothing measured in the period: the value shown is the last one known.
        return f"unchanged, last measured {_when(line.measured_at)}"
    if rounds_to_zero(line.change):  # "+0 (worse)" would judge a change nobody can see
        return "±0"
    text = f"{line.change:+,.{SHOWN_DIGITS}f}".rstrip("0").rstrip(".")
    if line.better is None:  # a neutral metric (size): a plain change, neither good nor bad
        return text
    return text + (" (better)" if line.better else " (worse)")


def _when(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M}"


def _runs_text(r: ProjectReport) -> str:
    """How many runs the period holds and when, apart from the period itself."""
    if r.runs == 0:
        return "no runs"
    if r.first_run_at is None or r.last_run_at is None:
        return f"{r.runs} run" + ("" if r.runs == 1 else "s")
    if r.runs == 1:
        return f"1 run, at {_when(r.last_run_at)}"
    return f"{r.runs} runs, first {_when(r.first_run_at)}, last {_when(r.last_run_at)}"


def _header(r: ProjectReport) -> str:
    """The one-line summary: score, the period, and the runs inside it."""
    head = f"period {_when(r.start)} to {_when(r.end)} · {_runs_text(r)}"
    score = r.score
    if score is not None:
        head = f"score {_num(score.end)} ({_change(score, r.start)}) {score.spark} · " + head
    return head


def _sections(
    r: ProjectReport, *, path: Callable[[str], str] = str, data: Callable[[str], str] = str
) -> list[tuple[str, list[str], str]]:
    """(heading, lines, text when there are no lines) of each section, for every format.

    ``path`` formats a file path (Markdown puts it in a code span: ``__init__.py`` would
    otherwise turn bold); ``data`` any other text from the data (Markdown escapes what could
    make a link or a mention of it: an author, a commit message, a rule or gate name).
    """
    rules = ", ".join(f"{data(k)} ({n})" for k, n in r.top_new_rules) or "none"
    files = ", ".join(f"{path(k)} ({n})" for k, n in r.top_new_files) or "none"
    fixed = ", ".join(f"{data(k)} ({n})" for k, n in r.top_fixed_rules) or "none"
    return [
        ("Metrics", [f"{data(m.metric)}: {_num(m.end)} {m.unit} ({_change(m, r.start)}) {m.spark}"
                     for m in r.metrics], "no measures yet"),
        ("Gates", [f"{_STATE_MARK.get(s, s)} {data(g)}: {s}" + (f" since {_when(t)}" if t else "")
                   for g, s, t in r.gates], "no gates evaluated"),
        ("Findings", [f"{r.new_findings} new, {r.fixed_findings} fixed",
                      f"new by rule: {rules}", f"new by file: {files}",
                      f"fixed by rule: {fixed}"], ""),
        ("Worst regressions", [
            f"{data(g.metric)}: {_num(g.before)} -> {_num(g.after)} in "
            f"{(g.commit_sha or g.run_id)[:10]} by {data(g.author or 'unknown')}"
            + (f" ({data(g.message.splitlines()[0])})" if g.message else "")
            for g in r.regressions
        ], "none"),
    ]


def _code_span(text: str) -> str:
    # A path holding a backtick needs a longer fence, padded with spaces (CommonMark).
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _markdown(reports: list[ProjectReport], base_url: str | None, *, title: bool) -> str:
    # CommonMark with a blank line between blocks, so every renderer keeps headings,
    # paragraphs and lists apart. Apprise converts it to each service's dialect (Slack:
    # headings become bold lines, links <url|label>). Lists rather than tables: Slack and
    # most chat services have no tables.
    blocks = [f"# {report_title(reports)}"] if title else []
    for r in reports:
        project = message_literal(r.project)
        blocks += [f"## {project}", _header(r)]
        for heading, lines, empty in _sections(r, path=_code_span, data=message_literal):
            blocks.append(f"### {heading}")
            blocks.append("\n".join(f"- {line}" for line in lines) if lines else empty)
        link = dashboard_link(base_url, r.project)
        if link:
            blocks.append(f"[Open {project} in the dashboard]({link})")
    return "\n\n".join(blocks)


def _text(reports: list[ProjectReport], base_url: str | None, *, title: bool) -> str:
    parts = [report_title(reports), ""] if title else []
    for r in reports:
        parts += [f"== {r.project} ==", _header(r)]
        for heading, lines, empty in _sections(r):
            parts.append(f"{heading}:")
            parts.extend(f"  {line}" for line in lines or [empty])
        link = dashboard_link(base_url, r.project)
        if link:
            parts.append(f"Dashboard: {link}")
        parts.append("")
    return "\n".join(parts)


def _html(reports: list[ProjectReport], base_url: str | None, *, title: bool) -> str:
    # Apprise derives the email's plain-text part from this HTML (html_to_text): each p, h*,
    # li, td and th becomes a line of its own, and whitespace between two blocks becomes a
    # blank line. So a metric is one table row of *one* cell (four cells would be four
    # lines), blocks inside a section are joined without whitespace and sections with a
    # newline, and links show their URL (the text part keeps only a link's text).
    e = html.escape
    sections = [f"<h2>{e(report_title(reports))}</h2>"] if title else []
    for r in reports:
        sections.append(f"<h3>{e(r.project)}</h3><p>{e(_header(r))}</p>")
        for heading, lines, empty in _sections(r):
            if not lines:
                body = f"<p>{e(empty)}</p>"
            elif heading == "Metrics":
                body = "<table>" + "".join(f"<tr><td>{e(x)}</td></tr>" for x in lines) + "</table>"
            else:
                body = "<ul>" + "".join(f"<li>{e(x)}</li>" for x in lines) + "</ul>"
            sections.append(f"<h4>{e(heading)}</h4>{body}")
        link = dashboard_link(base_url, r.project)
        if link:
            sections.append(f'<p>Dashboard: <a href="{e(link)}">{e(link)}</a></p>')
    return "\n".join(sections)


def render_report(
    reports: list[ProjectReport], fmt: str, *, base_url: str | None = None, title: bool = True
) -> str:
    """The reports as ``markdown``, ``html``, ``text`` or ``json``.

    ``title=False`` leaves the title (:func:`report_title`) out of the body, for a message
    that carries it as its own title (email subject, Slack header, webhook ``title``).
    """
    if fmt == "json":
        return json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False)
    if fmt == "html":
        return _html(reports, base_url, title=title)
    if fmt == "markdown":
        return _markdown(reports, base_url, title=title)
    return _text(reports, base_url, title=title)


def report_messages(
    reports: list[ProjectReport], routes: list[RouteSpec], *, base_url: str | None
) -> list[OutboxMessage]:
    """One message per project report and ``reports`` route endpoint, ready for the outbox.

    The dedup key names project, period and the day the period ends, so a report job that
    runs twice for the same slot (a restart, a retry, ``--once`` from cron, a ``report --send``
    by hand the same day) queues it once.
    """
    messages: list[OutboxMessage] = []
    for r in reports:
        def render(fmt: str, r: ProjectReport = r) -> tuple[str, str]:
            return report_title([r]), render_report([r], fmt, base_url=base_url, title=False)

        messages.extend(route_messages(
            routes, purpose="reports", project=r.project, render=render,
            dedup=f"report|{r.project}|{r.period}|{r.end:%Y-%m-%d}", now=r.end,
        ))
    return messages
