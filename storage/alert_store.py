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
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from storage.store import MetricStore

__all__ = [
    "AlertStateRow",
    "BreakerRow",
    "GateResultRow",
    "OutboxMessage",
    "OutboxRow",
    "RunContext",
    "claim_due",
    "enqueue_messages",
    "list_outbox",
    "load_alert_states",
    "load_breakers",
    "load_run_context",
    "metric_directions",
    "project_names",
    "record_attempt",
    "record_job_run",
    "release_claims",
    "run_summary",
    "runs_between",
    "save_breaker",
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
)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> tuple[Any, ...] | None:
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


_RUNS_OF = """
    SELECT m.value, r.run_id, r.point_ts FROM measure_point m JOIN run_record r USING (run_id)
    WHERE r.project = ? AND m.metric = ? AND {cond}
    ORDER BY r.point_ts {order}, r.started_at {order} LIMIT 1
"""


def load_run_context(
    store: MetricStore,
    run_id: str,
    *,
    metrics: Sequence[str],
    day_offsets: Iterable[tuple[str, int]] = (),
    baselines: Iterable[tuple[str, str | None]] = (),
) -> RunContext | None:
    """Read a run, its measures and the reference values of ``metrics`` (None if no such run)."""
    with store.reader() as con:
        cols = ["run_id", "project", "commit_sha", "author", "message", "committed_at",
                "point_ts", "started_at"]
        row = _one(con, f"SELECT {', '.join(cols)} FROM run_record WHERE run_id = ?", [run_id])
        if row is None:
            return None
        run = dict(zip(cols, row, strict=True))
        project, point_ts, started = run["project"], run["point_ts"], run["started_at"]
        values = {
            str(m): float(v)
            for m, v in con.execute(
                "SELECT metric, value FROM measure_point WHERE run_id = ?", [run_id]
            ).fetchall()
        }
        ctx = RunContext(run=run, values=values)
        newer = _one(
            con,
            "SELECT count(*) FROM run_record WHERE project = ? AND (point_ts, started_at) > (?, ?)",
            [project, point_ts, started],
        )
        ctx.is_latest = newer is None or int(newer[0]) == 0
        before = "(r.point_ts, r.started_at) < (?, ?)"
        for metric in metrics:
            prev = _one(con, _RUNS_OF.format(cond=before, order="DESC"),
                        [project, metric, point_ts, started])
            if prev is not None:
                ctx.previous[metric] = (float(prev[0]), str(prev[1]))
            seen = _one(con, _RUNS_OF.format(cond="(r.point_ts, r.started_at) <= (?, ?)",
                                             order="DESC"), [project, metric, point_ts, started])
            if seen is not None:
                missing = _one(
                    con,
                    "SELECT count(*) FROM run_record r, run_record s WHERE s.run_id = ? "
                    "AND r.project = ? AND (r.point_ts, r.started_at) > (s.point_ts, s.started_at) "
                    "AND (r.point_ts, r.started_at) <= (?, ?)",
                    [str(seen[1]), project, point_ts, started],
                )
                ctx.last_seen[metric] = (seen[2], int(missing[0]) if missing else 0)
        for metric, days in day_offsets:
            ref = _one(con, _RUNS_OF.format(
                cond="r.point_ts <= ?::TIMESTAMP - to_days(?::INTEGER)", order="DESC"),
                [project, metric, point_ts, days])
            if ref is not None:
                ctx.days_ago[(metric, days)] = (float(ref[0]), str(ref[1]))
        for metric, base in baselines:
            if base is None:
                ref = _one(con, _RUNS_OF.format(cond="true", order="ASC"), [project, metric])
            else:
                ref = _one(con, _RUNS_OF.format(cond="r.run_id = ?", order="ASC"),
                           [project, metric, base])
            if ref is not None:
                ctx.baseline[(metric, base)] = (float(ref[0]), str(ref[1]))
        ctx.directions = {
            str(n): str(d)
            for n, d in con.execute("SELECT name, direction FROM metric_catalogue").fetchall()
        }
        rows = con.execute(
            f"SELECT {', '.join(_STATE_COLS)} FROM alert_state_record WHERE project = ?", [project]
        ).fetchall()
        ctx.states = {(str(r[0]), str(r[1])): AlertStateRow(*r) for r in rows}
    return ctx




def load_alert_states(store: MetricStore, project: str | None = None) -> dict[tuple[str, str], AlertStateRow]:
    """The stored alert states, keyed by (project, gate)."""
    where, params = ("WHERE project = ?", [project]) if project is not None else ("", [])
    rows = store.fetch(f"SELECT {', '.join(_STATE_COLS)} FROM alert_state_record {where}", params)
    states = [AlertStateRow(*row) for row in rows]
    return {(s.project, s.gate): s for s in states}


_MSG_COLS = (
    "message_id", "dedup_key", "route", "url_index", "endpoint", "purpose", "project", "title",
    "body", "body_format", "created_at",
)


def _insert_messages(con: duckdb.DuckDBPyConnection, messages: Sequence[OutboxMessage]) -> list[str]:
    inserted: list[str] = []
    for m in messages:
        # ON CONFLICT on the unique dedup key: the same violation is never queued twice.
        rows = con.execute(
            f"INSERT INTO outbox_record ({', '.join(_MSG_COLS)}, status, attempts, next_attempt_at) "
            f"VALUES ({', '.join('?' * len(_MSG_COLS))}, 'pending', 0, ?) "
            "ON CONFLICT DO NOTHING RETURNING message_id",
            [getattr(m, c) for c in _MSG_COLS] + [m.created_at],
        ).fetchall()
        inserted.extend(str(r[0]) for r in rows)
    return inserted


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
        for r in results:
            con.execute(
                "INSERT OR REPLACE INTO gate_result_record (run_id, project, gate, metric, state, "
                "raw_state, value, threshold, reference_value, reference_run_id, detail, "
                "evaluated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.run_id, r.project, r.gate, r.metric, r.state, r.raw_state, r.value,
                 r.threshold, r.reference_value, r.reference_run_id, r.detail, r.evaluated_at],
            )
        for s in states:
            con.execute(
                f"INSERT OR REPLACE INTO alert_state_record ({', '.join(_STATE_COLS)}) "
                f"VALUES ({', '.join('?' * len(_STATE_COLS))})",
                [getattr(s, c) for c in _STATE_COLS],
            )
        return _insert_messages(con, messages)


def enqueue_messages(store: MetricStore, messages: Sequence[OutboxMessage]) -> list[str]:
    """Queue messages (reports, tests) in one transaction; return the ids newly queued."""
    if not messages:
        return []
    with store.transaction() as con:
        return _insert_messages(con, messages)


def claim_due(
    store: MetricStore,
    now: datetime,
    *,
    claim_until: datetime,
    message_ids: Sequence[str] | None = None,
    limit: int = 500,
    expire_before: datetime | None = None,
    expire_reason: str = "too old",
) -> tuple[list[OutboxRow], int]:
    """Claim pending messages due at ``now`` so that no other flusher sends them meanwhile.

    In the same transaction, pending messages created before ``expire_before`` are failed
    for good. Returns the claimed rows and the number expired.
    """
    cond = "" if message_ids is None else "AND message_id IN (SELECT unnest(?::VARCHAR[]))"
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
            f"SELECT {', '.join(_MSG_COLS)}, status, attempts, next_attempt_at FROM outbox_record "
            "WHERE status = 'pending' AND next_attempt_at <= ? "
            f"AND (claimed_until IS NULL OR claimed_until < ?) {cond} "
            f"ORDER BY created_at, message_id LIMIT {int(limit)}",
            params,
        ).fetchall()
        ids = [str(r[0]) for r in rows]
        if ids:
            con.execute(
                "UPDATE outbox_record SET claimed_until = ? "
                "WHERE message_id IN (SELECT unnest(?::VARCHAR[]))",
                [claim_until, ids],
            )
    n = len(_MSG_COLS)
    claimed = [OutboxRow(OutboxMessage(*r[:n]), str(r[n]), int(r[n + 1]), r[n + 2]) for r in rows]
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


def record_attempt(
    store: MetricStore,
    message_id: str,
    *,
    status: str,
    attempts: int,
    now: datetime,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """Record one delivery attempt: ``delivered``, still ``pending`` (retry later) or ``failed``."""
    with store.transaction() as con:
        con.execute(
            "UPDATE outbox_record SET status = ?, attempts = ?, claimed_until = NULL, "
            "delivered_at = CASE WHEN ? = 'delivered' THEN ?::TIMESTAMP ELSE delivered_at END, "
            "next_attempt_at = coalesce(?::TIMESTAMP, next_attempt_at), "
            "last_error = coalesce(?, last_error) WHERE message_id = ?",
            [status, attempts, status, now, next_attempt_at, error, message_id],
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


def save_breaker(store: MetricStore, breaker: BreakerRow, now: datetime) -> None:
    """Store one channel's circuit breaker."""
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO channel_breaker VALUES (?, ?, ?, ?, ?)",
            [breaker.channel, breaker.consecutive_failures, breaker.open_until,
             breaker.opened_count, now],
        )


def list_outbox(
    store: MetricStore, *, status: str | None = None, limit: int = 100
) -> pl.DataFrame:
    """The newest outbox messages (masked endpoints only), optionally of one status."""
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return store.query(
        "SELECT message_id, route, endpoint, purpose, project, title, status, attempts, "
        f"created_at, next_attempt_at, delivered_at, last_error FROM outbox {where} "
        f"ORDER BY created_at DESC, message_id LIMIT {int(limit)}",
        params,
    )


def record_job_run(
    store: MetricStore,
    job: str,
    *,
    started_at: datetime,
    finished_at: datetime,
    status: str,
    error: str | None = None,
) -> None:
    """Record one scheduler job run (``succeeded``, ``failed`` or ``skipped``)."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO job_run_record VALUES (?, ?, ?, ?, ?)",
            [job, started_at, finished_at, status, error],
        )
