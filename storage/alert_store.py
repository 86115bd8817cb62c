"""Reads and writes of the alert tables: gate results, alert state, outbox, breakers, job runs.

The alert layer computes; this module is the only place that speaks SQL to these tables.
Evaluation of one run writes its gate results, the new alert states and the messages it
causes in *one* transaction, so a crash or restart can never produce an alert twice: either
the state change and its message are both stored, or neither is. Messages carry a
``dedup_key`` (unique), so re-evaluating the same violation inserts nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from storage.store import MetricStore

__all__ = [
    "OUTBOX_DISPLAY",
    "AlertStateRow",
    "Attempt",
    "BreakerRow",
    "GateResultRow",
    "OutboxMessage",
    "OutboxRow",
    "RunContext",
    "claim_due",
    "enqueue_messages",
    "find_messages",
    "list_outbox",
    "load_alert_states",
    "load_breakers",
    "load_run_context",
    "metric_directions",
    "project_names",
    "record_attempts",
    "record_job_run",
    "release_claims",
    "run_summary",
    "runs_between",
    "save_evaluation",
]

Ref = tuple[float, str]


@dataclass(frozen=True, slots=True)
class GateResultRow:
    """The outcome of one gate on one run (``state`` is after K-consecutive smoothing)."""

    run_id: str
    project: str
    gate: str
    metric: str
    state: str
    raw_state: str
    value: float | None
    threshold: float | None
    reference_value: float | None
    reference_run_id: str | None
    detail: str
    evaluated_at: datetime


@dataclass(frozen=True, slots=True)
class AlertStateRow:
    """The remembered state of one gate of one project (survives restarts)."""

    project: str
    gate: str
    state: str
    since: datetime | None
    since_run_id: str | None
    consecutive_failures: int
    last_notified_at: datetime | None
    last_run_id: str | None
    last_point_ts: datetime | None
    updated_at: datetime
    streak_run_id: str | None = None
    announced_state: str | None = None  # what the last announcing run told (None: nothing yet)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message for one endpoint (route name + URL index), to be written before delivery."""

    message_id: str
    dedup_key: str
    route: str
    url_index: int
    endpoint: str
    purpose: str
    project: str | None
    title: str
    body: str
    body_format: str
    notify_type: str  # Apprise's notify type: failure | warning | success | info
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A stored message with its delivery state."""

    message: OutboxMessage
    status: str
    attempts: int
    next_attempt_at: datetime

    @property
    def channel(self) -> str:
        """The endpoint's breaker key: route name and URL index."""
        return f"{self.message.route}#{self.message.url_index}"


@dataclass(frozen=True, slots=True)
class BreakerRow:
    """The circuit breaker of one channel."""

    channel: str
    consecutive_failures: int = 0
    open_until: datetime | None = None
    opened_count: int = 0


@dataclass(slots=True)
class RunContext:
    """Everything gate evaluation needs about one run, read in one connection."""

    run: dict[str, Any]
    values: dict[str, float]
    previous: dict[str, Ref] = field(default_factory=dict)
    days_ago: dict[tuple[str, int], Ref] = field(default_factory=dict)
    baseline: dict[tuple[str, str | None], Ref] = field(default_factory=dict)
    last_seen: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    is_latest: bool = True
    states: dict[tuple[str, str], AlertStateRow] = field(default_factory=dict)


_STATE_COLS = (
    "project", "gate", "state", "since", "since_run_id", "consecutive_failures",
    "last_notified_at", "last_run_id", "last_point_ts", "updated_at", "streak_run_id",
    "announced_state",
)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[Any, ...] | None:
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None




def load_run_context(
    store: MetricStore,
    run_id: str,
    *,
    metrics: Sequence[str],
    day_offsets: Iterable[tuple[str, int]] = (),
    baselines: Iterable[tuple[str, str | None]] = (),
) -> RunContext | None:
    """Read a run, its measures and the reference values of ``metrics`` (None if no such run).

    Reads the project's run order and the history of ``metrics`` once (a few thousand rows
    for years of daily runs) and derives every reference from them, instead of one query
    per metric and reference.
    """
    with store.reader() as con:
        cols = ["run_id", "project", "commit_sha", "author", "message", "committed_at",
                "point_ts", "started_at"]
        row = _one(con, f"SELECT {', '.join(cols)} FROM run_record WHERE run_id = ?", [run_id])
        if row is None:
            return None
        run = dict(zip(cols, row, strict=True))
        project = run["project"]
        values = {
            str(m): float(v)
            for m, v in con.execute(
                "SELECT metric, value FROM measure_point WHERE run_id = ?", [run_id]
            ).fetchall()
        }
        ctx = RunContext(run=run, values=values)
        order = [str(r[0]) for r in con.execute(
            "SELECT run_id FROM run_record WHERE project = ? ORDER BY point_ts, started_at, run_id",
            [project],
        ).fetchall()]
        history = con.execute(
            "SELECT m.metric, m.value, r.run_id, r.point_ts FROM measure_point m "
            "JOIN run_record r USING (run_id) "
            "WHERE m.project = ? AND m.metric IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY r.point_ts, r.started_at, r.run_id",
            [project, list(metrics)],
        ).fetchall() if metrics else []
        ctx.directions = {
            str(n): str(d)
            for n, d in con.execute("SELECT name, direction FROM metric_catalogue").fetchall()
        }
        rows = con.execute(
            f"SELECT {', '.join(_STATE_COLS)} FROM alert_state_record WHERE project = ?", [project]
        ).fetchall()
        ctx.states = {(str(r[0]), str(r[1])): AlertStateRow(*r) for r in rows}
    _derive_references(ctx, order, history, day_offsets, baselines)
    return ctx


def _derive_references(
    ctx: RunContext,
    order: list[str],
    history: list[tuple[Any, ...]],
    day_offsets: Iterable[tuple[str, int]],
    baselines: Iterable[tuple[str, str | None]],
) -> None:
    position = {rid: i for i, rid in enumerate(order)}
    here = position[ctx.run["run_id"]]
    ctx.is_latest = here == len(order) - 1
    point_ts: datetime = ctx.run["point_ts"]
    by_metric: dict[str, list[tuple[float, str, datetime, int]]] = {}
    for metric, value, rid, ts in history:
        by_metric.setdefault(str(metric), []).append((float(value), str(rid), ts, position[rid]))
    for metric, points in by_metric.items():
        earlier = [p for p in points if p[3] < here]
        if earlier:
            ctx.previous[metric] = (earlier[-1][0], earlier[-1][1])
        upto = [p for p in points if p[3] <= here]
        if upto:
            ctx.last_seen[metric] = (upto[-1][2], here - upto[-1][3])
    for metric, days in day_offsets:
        cutoff = point_ts - timedelta(days=days)
        old = [p for p in by_metric.get(metric, []) if p[2] <= cutoff]
        if old:
            ctx.days_ago[(metric, days)] = (old[-1][0], old[-1][1])
    for metric, base in baselines:
        points = by_metric.get(metric, [])
        chosen = [p for p in points if p[1] == base] if base is not None else points[:1]
        if chosen:
            ctx.baseline[(metric, base)] = (chosen[0][0], chosen[0][1])


def load_alert_states(store: MetricStore, project: str | None = None) -> dict[tuple[str, str], AlertStateRow]:
    """The stored alert states, keyed by (project, gate)."""
    where, params = ("WHERE project = ?", [project]) if project is not None else ("", [])
    rows = store.fetch(f"SELECT {', '.join(_STATE_COLS)} FROM alert_state_record {where}", params)
    states = [AlertStateRow(*row) for row in rows]
    return {(s.project, s.gate): s for s in states}


_MSG_COLS = (
    "message_id", "dedup_key", "route", "url_index", "endpoint", "purpose", "project", "title",
    "body", "body_format", "notify_type", "created_at",
)


def _insert_messages(con: duckdb.DuckDBPyConnection, messages: Sequence[OutboxMessage]) -> list[str]:
    """Insert in one statement; ON CONFLICT on the unique keys skips what is already queued."""
    unique = list({m.dedup_key: m for m in messages}.values())
    if not unique:
        return []
    frame = pl.DataFrame(
        {c: [getattr(m, c) for m in unique] for c in _MSG_COLS},
        schema={c: (pl.Int64 if c == "url_index" else pl.Datetime("us") if c == "created_at"
                    else pl.String) for c in _MSG_COLS},
    )
    con.register("_outbox_df", frame)
    try:
        rows = con.execute(
            f"INSERT INTO outbox_record ({', '.join(_MSG_COLS)}, status, attempts, next_attempt_at) "
            f"SELECT {', '.join(_MSG_COLS)}, 'pending', 0, created_at FROM _outbox_df "
            "ON CONFLICT DO NOTHING RETURNING message_id"
        ).fetchall()
    finally:
        con.unregister("_outbox_df")
    inserted = {str(r[0]) for r in rows}
    return [m.message_id for m in unique if m.message_id in inserted]


_RESULT_COLS = (
    "run_id", "project", "gate", "metric", "state", "raw_state", "value", "threshold",
    "reference_value", "reference_run_id", "detail", "evaluated_at",
)
_TIME_COLS = {"since", "last_notified_at", "last_point_ts", "updated_at", "evaluated_at"}
_FLOAT_COLS = {"value", "threshold", "reference_value"}


def _upsert(
    con: duckdb.DuckDBPyConnection, table: str, cols: tuple[str, ...], rows: Sequence[object]
) -> None:
    """INSERT OR REPLACE ``rows`` (dataclasses with ``cols``) in one statement."""
    if not rows:
        return
    schema: dict[str, Any] = {
        c: pl.Datetime("us") if c in _TIME_COLS else pl.Float64 if c in _FLOAT_COLS
        else pl.Int64 if c == "consecutive_failures" else pl.String
        for c in cols
    }
    frame = pl.DataFrame({c: [getattr(r, c) for r in rows] for c in cols}, schema=schema)
    con.register("_upsert_df", frame)
    try:
        con.execute(f"INSERT OR REPLACE INTO {table} ({', '.join(cols)}) "
                    f"SELECT {', '.join(cols)} FROM _upsert_df")
    finally:
        con.unregister("_upsert_df")


def save_evaluation(
    store: MetricStore,
    results: Sequence[GateResultRow],
    states: Sequence[AlertStateRow],
    messages: Sequence[OutboxMessage],
) -> list[str]:
    """Store a run's gate results, new alert states and messages in one transaction.

    Returns the ids of the messages actually queued (duplicates by ``dedup_key`` are skipped).
    """
    with store.transaction() as con:
        _upsert(con, "gate_result_record", _RESULT_COLS, results)
        _upsert(con, "alert_state_record", _STATE_COLS, states)
        return _insert_messages(con, messages)


def enqueue_messages(store: MetricStore, messages: Sequence[OutboxMessage]) -> list[str]:
    """Queue messages (reports, tests) in one transaction; return the ids newly queued."""
    if not messages:
        return []
    with store.transaction() as con:
        return _insert_messages(con, messages)


# One endpoint gets its messages in the order they were made: a message waits while an earlier
# one to the same endpoint (route and URL) is still pending and not due (backing off after a
# failure) or being sent, so that "gate GREEN" never arrives before the "gate RED" it follows.
_BEHIND_AN_EARLIER = """
    AND NOT EXISTS (
        SELECT 1 FROM outbox_record e
        WHERE e.status = 'pending' AND e.route = m.route AND e.url_index = m.url_index
          AND (e.created_at, e.message_id) < (m.created_at, m.message_id)
          AND (e.next_attempt_at > ? OR e.claimed_until >= ? {not_asked_for}))
"""


def claim_due(
    store: MetricStore,
    now: datetime,
    *,
    claim_until: datetime,
    message_ids: Sequence[str] | None = None,
    limit: int = 500,
    expire_before: datetime | None = None,
    expire_reason: str = "too old",
    in_order: bool = True,
) -> tuple[list[OutboxRow], int]:
    """Claim pending messages due at ``now`` so that no other flusher sends them meanwhile.

    In the same transaction, pending messages created before ``expire_before`` are failed
    for good. Returns the claimed rows and the number expired. ``in_order``: a message waits
    while an earlier one to its endpoint is pending (off for a test message, which asks
    whether the endpoint works now).
    """
    cond = "" if message_ids is None else "AND message_id IN (SELECT unnest(?::VARCHAR[]))"
    # sending only some messages (a run's alerts, right away): an earlier pending message to the
    # same endpoint that is not among them goes first, at the next general flush
    behind = "" if not in_order else _BEHIND_AN_EARLIER.format(
        not_asked_for="" if message_ids is None else
        "OR e.message_id NOT IN (SELECT unnest(?::VARCHAR[]))")
    extra = [] if not in_order else [now, now, *([list(message_ids)] if message_ids is not None else [])]
    params: list[object] = [now, now] + ([list(message_ids)] if message_ids is not None else [])
    with store.transaction() as con:
        expired = 0
        if expire_before is not None:
            expired = len(con.execute(
                "UPDATE outbox_record SET status = 'failed', last_error = ? || coalesce(': ' || "
                "last_error, ''), next_attempt_at = ?, claimed_until = NULL "
                "WHERE status = 'pending' AND created_at < ? RETURNING message_id",
                [expire_reason, now, expire_before],
            ).fetchall())
        rows = con.execute(
            f"SELECT {', '.join(_MSG_COLS)}, status, attempts, next_attempt_at FROM outbox_record m "
            "WHERE status = 'pending' AND next_attempt_at <= ? "
            f"AND (claimed_until IS NULL OR claimed_until < ?) {cond} {behind} "
            f"ORDER BY created_at, message_id LIMIT {int(limit)}",
            [*params, *extra],
        ).fetchall()
        ids = [str(r[0]) for r in rows]
        if ids:
            con.execute(
                "UPDATE outbox_record SET claimed_until = ? "
                "WHERE message_id IN (SELECT unnest(?::VARCHAR[]))",
                [claim_until, ids],
            )
    n = len(_MSG_COLS)
    claimed = [OutboxRow(OutboxMessage(**dict(zip(_MSG_COLS, r[:n], strict=True))), str(r[n]),
                         int(r[n + 1]), r[n + 2]) for r in rows]
    return claimed, expired


def release_claims(store: MetricStore, message_ids: Sequence[str]) -> None:
    """Give back claimed messages that were not attempted (their route's circuit is open)."""
    if message_ids:
        with store.transaction() as con:
            con.execute(
                "UPDATE outbox_record SET claimed_until = NULL "
                "WHERE message_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(message_ids)],
            )


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one delivery attempt, to be recorded."""

    message_id: str
    status: str  # delivered | pending | failed
    attempts: int
    at: datetime
    next_attempt_at: datetime | None = None
    error: str | None = None
    endpoint: str | None = None  # masked: the URL it went to, when the route's URL changed since


def record_attempts(
    store: MetricStore, attempts: Sequence[Attempt], *, now: datetime,
    breaker: BreakerRow | None = None, release: Sequence[str] = (),
) -> None:
    """Record delivery attempts (and a channel's breaker, and claims given back) in one transaction."""
    if not attempts and breaker is None and not release:
        return
    with store.transaction() as con:
        for a in attempts:
            con.execute(
                "UPDATE outbox_record SET status = ?, attempts = ?, claimed_until = NULL, "
                "delivered_at = CASE WHEN ? = 'delivered' THEN ?::TIMESTAMP ELSE delivered_at END, "
                "next_attempt_at = coalesce(?::TIMESTAMP, next_attempt_at), "
                "last_error = coalesce(?, last_error), endpoint = coalesce(?, endpoint) "
                "WHERE message_id = ?",
                [a.status, a.attempts, a.status, a.at, a.next_attempt_at, a.error, a.endpoint,
                 a.message_id],
            )
        if release:
            con.execute(
                "UPDATE outbox_record SET claimed_until = NULL "
                "WHERE message_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(release)],
            )
        if breaker is not None:
            con.execute(
                "INSERT OR REPLACE INTO channel_breaker VALUES (?, ?, ?, ?, ?)",
                [breaker.channel, breaker.consecutive_failures, breaker.open_until,
                 breaker.opened_count, now],
            )


def run_summary(store: MetricStore, run_id: str) -> dict[str, Any] | None:
    """A run's project, commit, author, message and times (None if unknown)."""
    frame = store.query(
        "SELECT run_id, project, commit_sha, author, message, committed_at, started_at "
        "FROM runs WHERE run_id = ?",
        [run_id],
    )
    return frame.to_dicts()[0] if frame.height else None


def runs_between(
    store: MetricStore, project: str, start: datetime | None, end: datetime
) -> pl.DataFrame:
    """Runs of ``project`` with point time in ``(start, end]``, oldest first (all before ``end``
    when ``start`` is None); columns of the ``runs`` view plus ``point_ts``."""
    cond, params = ("AND point_ts > ?", [start]) if start is not None else ("", [])
    return store.query(
        "SELECT run_id, project, commit_sha, author, message, committed_at, started_at, status, "
        f"point_ts FROM run_record WHERE project = ? {cond} AND point_ts <= ? "
        "ORDER BY point_ts, started_at",
        [project, *params, end],
    )


def project_names(store: MetricStore) -> list[str]:
    """Every project with at least one run, sorted."""
    return [str(r[0]) for r in store.fetch("SELECT DISTINCT project FROM runs ORDER BY 1")]


def metric_directions(store: MetricStore) -> dict[str, tuple[str, str]]:
    """The catalogue as ``{name: (direction, unit)}``."""
    rows = store.fetch("SELECT name, direction, unit FROM metrics")
    return {str(n): (str(d), str(u)) for n, d, u in rows}


def load_breakers(store: MetricStore) -> dict[str, BreakerRow]:
    """Every channel's circuit breaker."""
    rows = store.fetch(
        "SELECT channel, consecutive_failures, open_until, opened_count FROM channel_breaker"
    )
    return {str(r[0]): BreakerRow(str(r[0]), int(r[1]), r[2], int(r[3])) for r in rows}


# The outbox as people see it (`notify --list`, the dashboard): a next attempt exists only while
# a message is pending, and is not before its endpoint's open circuit lets it through; a
# delivered message's last error is history (its attempts column still says it needed retries).
# A pending message's real next attempt: its own, not before its endpoint's circuit lets it
# through, nor before an earlier pending message to the same endpoint (messages go in order).
OUTBOX_DISPLAY = (
    "SELECT o.* REPLACE (CASE WHEN o.status = 'pending' THEN greatest(o.next_attempt_at, "
    "coalesce(b.open_until, o.next_attempt_at), coalesce((SELECT max(e.next_attempt_at) "
    "FROM outbox_record e WHERE e.status = 'pending' AND e.route = r.route "
    "AND e.url_index = r.url_index AND (e.created_at, e.message_id) < (r.created_at, r.message_id)), "
    "o.next_attempt_at)) END AS next_attempt_at, "
    "CASE WHEN o.status <> 'delivered' THEN o.last_error END AS last_error) "
    "FROM outbox o JOIN outbox_record r USING (message_id) "
    "LEFT JOIN channel_breaker b ON b.channel = r.route || '#' || r.url_index"
)


def list_outbox(
    store: MetricStore, *, status: str | None = None, limit: int = 100
) -> pl.DataFrame:
    """The newest outbox messages (masked endpoints only), optionally of one status.

    ``limit`` must be at least 1 (DuckDB refuses a negative LIMIT with a binder error).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return store.query(
        "SELECT message_id, route, endpoint, purpose, project, title, status, attempts, created_at, "
        f"next_attempt_at, delivered_at, last_error FROM ({OUTBOX_DISPLAY}) {where} "
        f"ORDER BY created_at DESC, message_id LIMIT {int(limit)}",
        params,
    )


def find_messages(store: MetricStore, id_prefix: str) -> pl.DataFrame:
    """Outbox messages whose id starts with ``id_prefix``, with their title and body."""
    return store.query(
        "SELECT message_id, route, endpoint, purpose, project, status, body_format, notify_type, "
        "title, body FROM outbox_record WHERE starts_with(message_id, ?) ORDER BY message_id",
        [id_prefix],
    )


def record_job_run(
    store: MetricStore,
    job: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    error: str | None = None,
    detail: str | None = None,
) -> None:
    """Record one scheduler job run (``succeeded``, ``failed`` or ``skipped``) and what it did."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO job_run_record (job, started_at, finished_at, status, error, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [job, started_at, finished_at, status, error, detail],
        )
