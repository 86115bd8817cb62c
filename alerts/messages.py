"""Turning alert events (and reports) into outbox messages, one per route endpoint.

All events of one run become *one* message per endpoint. Each endpoint gets the body in the
format that suits it: HTML for email (Apprise sends it as multipart with a plain-text part),
Markdown for chat services. The title travels as the message's title (email subject, Slack
header, webhook ``title``), so bodies do not repeat it. The message's dedup key is derived from
the violations it reports, so re-evaluating the same violation never queues it again.

Each message also carries the Apprise notify type of its news (:func:`alert_notify_type`),
stored with it in the outbox: chat services show it as a colour or icon.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from apprise import NotifyType

from alerts.config import RouteSpec, route_names
from alerts.masking import mask_url
from alerts.text import message_literal
from storage.alert_store import OutboxMessage

__all__ = [
    "AlertEvent",
    "alert_messages",
    "alert_notify_type",
    "body_format_for",
    "dashboard_link",
    "render_alert",
    "route_messages",
]

_KIND_TITLE = {
    "alert": "RED",
    "stale": "STALE",
    "reminder": "STILL RED",
    "recovery": "GREEN again",
}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One change of a gate's state worth telling someone about.

    ``rule``, ``rule_against``, ``tolerance`` and ``reference_value`` are the facts of the
    condition that decided the gate (see :class:`alerts.gates.GateOutcome`); a stale gate has
    no value and no rule, and its ``detail`` says what is missing since when.
    """

    kind: str  # alert | recovery | reminder | stale
    project: str
    gate: str
    metric: str
    value: float | None
    threshold: float | None
    rule: str | None
    rule_against: str | None
    tolerance: float
    reference_value: float | None
    previous_value: float | None
    detail: str
    run_id: str
    commit_sha: str | None
    author: str | None
    violation: str

    @property
    def key(self) -> str:
        """Identifies the violation (or recovery) this event reports."""
        return f"{self.kind}|{self.project}|{self.gate}|{self.violation}"


def body_format_for(url: str, route: RouteSpec) -> str:
    """``html`` for email URLs, ``markdown`` for everything else, unless the route says."""
    if route.format != "auto":
        return route.format
    scheme = url.split(":", 1)[0].lower()
    return "html" if scheme in ("mailto", "mailtos", "email", "emails") else "markdown"


def dashboard_link(base_url: str | None, project: str) -> str | None:
    """The dashboard's gates page for ``project`` when a base URL is configured."""
    if not base_url:
        return None
    return f"{base_url.rstrip('/')}/gates?project={quote(project)}"


# Slack refuses a header block longer than 150 characters; an inbox shows fewer anyway.
TITLE_LIMIT = 150


def _capped(title: str) -> str:
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _statement(e: AlertEvent) -> str:
    """Everything about one event, each fact once: the metric (unless the gate's name starts
    with it), value against threshold and rule, the previous value, and for bad news the commit
    and its author."""
    if e.value is None:
        facts = [e.detail]  # stale: the detail says what is missing since when
    elif e.rule is None:  # judged by no rule: keep the detail whole rather than lose what it says
        facts = [f"value {_num(e.value)} vs threshold {_num(e.threshold)} ({e.detail})"]
    else:
        rule = e.rule
        # Against "previous", the reference is the previous value, said just after, unless the
        # two differ (a `consecutive` gate: "previous" is the value before its streak began).
        if e.reference_value is not None and (
            e.rule_against != "previous" or e.reference_value != e.previous_value
        ):
            rule += f", reference {_num(e.reference_value)}"
        band = f" ± {e.tolerance:g}" if e.tolerance else ""
        facts = [f"value {_num(e.value)} vs threshold {_num(e.threshold)}{band} (rule: {rule})"]
    facts.append("no previous value" if e.previous_value is None
                 else f"previous {_num(e.previous_value)}")
    if e.commit_sha:
        verb = "fixed in commit" if e.kind == "recovery" else "commit"
        facts.append(f"{verb} {e.commit_sha[:10]} by {e.author or 'unknown author'}")
    text = "; ".join(facts)
    named = e.value is None or e.gate == e.metric or e.gate.startswith(f"{e.metric} ")
    return text if named else f"{e.metric}: {text}"


def _line(e: AlertEvent) -> tuple[str, str]:
    """(headline, details) of one event, in plain words."""
    return f"{_KIND_TITLE.get(e.kind, e.kind)}: {e.gate}", _statement(e)


def render_alert(events: list[AlertEvent], fmt: str, *, link: str | None) -> tuple[str, str]:
    """Title and body of one grouped message, in ``markdown``, ``html`` or ``text``."""
    project = events[0].project
    red = sum(e.kind == "alert" for e in events)
    still = sum(e.kind == "reminder" for e in events)
    stale = sum(e.kind == "stale" for e in events)
    green = sum(e.kind == "recovery" for e in events)
    if len(events) == 1:  # one gate: its name says more than a count, in an inbox list too
        only = events[0]
        title = f"flext-quality: {project}: {_KIND_TITLE.get(only.kind, only.kind)}: {only.gate}"
    else:
        counts = [f"{red} gate(s) RED" if red else "", f"{still} gate(s) STILL RED" if still else "",
                  f"{stale} gate(s) STALE" if stale else "",
                  f"{green} gate(s) green again" if green else ""]
        title = f"flext-quality: {project}: {', '.join(c for c in counts if c)}"
    title = _capped(title)
    lines = [_line(e) for e in events]
    if fmt == "html":
        items = "".join(
            f"<li><b>{html.escape(h)}</b><br>{html.escape(d)}</li>" for h, d in lines
        )
        # No heading: the title is the email's subject. The URL is shown, since the text part
        # (Apprise derives it from this HTML) keeps only a link's text.
        body = f"<ul>{items}</ul>"
        if link:
            url = html.escape(link)
            body += f'\n<p>Dashboard: <a href="{url}">{url}</a></p>'
        return title, body
    if fmt == "markdown":
        # names, authors and messages come from the data: no link or mention may come out
        body = "\n".join(f"- **{message_literal(h)}**: {message_literal(d)}" for h, d in lines)
        return title, body + (f"\n\n[Open the dashboard]({link})" if link else "")
    body = "\n".join(f"* {h}: {d}" for h, d in lines)
    return title, body + (f"\n\nDashboard: {link}" if link else "")


def alert_notify_type(events: list[AlertEvent]) -> str:
    """The Apprise notify type of one grouped alert message: the worst news wins.

    A gate newly or still red (an alert or a reminder) is ``failure``; otherwise a stale gate
    is ``warning``; a message of recoveries only is ``success``.
    """
    kinds = {e.kind for e in events}
    if kinds & {"alert", "reminder"}:
        return NotifyType.FAILURE.value
    if "stale" in kinds:
        return NotifyType.WARNING.value
    if "recovery" in kinds:
        return NotifyType.SUCCESS.value
    return NotifyType.INFO.value


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def route_messages(
    routes: list[RouteSpec],
    *,
    purpose: str,
    project: str | None,
    render: Callable[[str], tuple[str, str]],
    dedup: str,
    now: datetime,
    notify_type: str = NotifyType.INFO.value,
) -> list[OutboxMessage]:
    """One message per endpoint of every route of ``purpose`` that takes ``project``.

    ``render(fmt)`` gives (title, body) in a format; ``dedup`` identifies the content, so
    the same content is queued at most once per endpoint. ``notify_type`` is the Apprise
    notify type the messages go with: ``info`` (reports, tests) unless the caller says.
    """
    names = route_names(routes)
    out: list[OutboxMessage] = []
    for name, route in zip(names, routes, strict=True):
        if route.purpose != purpose or not route.applies_to(project):
            continue
        for index, url in enumerate(route.urls):
            fmt = body_format_for(url, route)
            title, body = render(fmt)
            key = _digest(purpose, name, str(index), dedup)
            out.append(OutboxMessage(
                message_id=key[:24], dedup_key=key, route=name, url_index=index,
                endpoint=mask_url(url), purpose=purpose, project=project, title=title,
                body=body, body_format=fmt, notify_type=notify_type, created_at=now,
            ))
    return out


def alert_messages(
    events: list[AlertEvent],
    *,
    project: str,
    routes: list[RouteSpec],
    dashboard_url: str | None,
    now: datetime,
) -> list[OutboxMessage]:
    """The grouped messages for one run's events (none when nothing changed)."""
    if not events:
        return []
    link = dashboard_link(dashboard_url, project)
    dedup = _digest(*sorted(e.key for e in events))
    return route_messages(
        routes, purpose="alerts", project=project,
        render=lambda fmt: render_alert(events, fmt, link=link), dedup=dedup, now=now,
        notify_type=alert_notify_type(events),
    )
