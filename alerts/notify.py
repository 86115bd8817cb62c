"""Delivering outbox messages through Apprise: retries, backoff with jitter, circuit breakers.

Every message is in the outbox before anyone tries to send it. :meth:`Notifier.flush` claims
the due messages (so two flushers never send the same one), sends each through Apprise with
no database connection held, and records the outcome:

* delivered -> ``delivered`` (never sent again);
* failed -> retried after ``base * 2**(attempts-1)`` seconds (capped, with jitter), until
  ``max_attempts`` or ``max_age_hours``, then ``failed`` for good;
* ``breaker_threshold`` failures in a row open the channel's circuit (channel = route name +
  URL index): it is skipped for ``breaker_cooldown_s``, then one message is tried
  (half-open); success closes it, failure opens it again;
* a *test* message (:func:`send_test_notification`) is tried once, even through an open
  circuit (as its half-open try), and a failure makes it ``failed`` at once: a test answers
  "does this endpoint work now?", so resending it later would only confuse.

Each message goes with the Apprise notify type stored with it (set when it was written, see
:func:`alerts.messages.alert_notify_type`): a red gate ``failure``, a stale gate ``warning``, a
recovery ``success``, reports and tests ``info``.

Delivery failures are results, never exceptions. Errors are stored and returned masked; each
failed delivery is one WARNING log line (Apprise's own warnings about it are folded into that
line and logged at DEBUG).
"""

from __future__ import annotations

import contextvars
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import apprise
from apprise.utils.parse import parse_urls

from alerts.config import RouteSpec, route_names
from alerts.masking import mask_as_written, mask_text, mask_url, quiet_apprise, register_url, secret_parts
from alerts.messages import route_messages
from storage.alert_store import (
    Attempt,
    BreakerRow,
    OutboxMessage,
    OutboxRow,
    claim_due,
    enqueue_messages,
    load_breakers,
    record_attempts,
    release_claims,
)
from storage.errors import NotifyError
from storage.store import MetricStore

__all__ = [
    "DeliveryOutcome",
    "DeliveryPolicy",
    "Notifier",
    "Sender",
    "apprise_send",
    "send_test_notification",
    "utc_now",
    "validate_routes",
]

log = logging.getLogger(__name__)
_BATCH = 25
_BATCH_S = 1.0

Sender = Callable[[str, str, str, str, str], tuple[bool, str | None]]
"""``sender(url, title, body, body_format, notify_type) -> (ok, error text)``; must not raise."""


def utc_now() -> datetime:
    """Naive UTC now, the store's time convention."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Retry, breaker and expiry settings of delivery."""

    max_attempts: int = 8
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 300.0
    max_age_hours: float = 48.0
    claim_s: float = 600.0


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one message at one endpoint (``endpoint`` is masked)."""

    message_id: str
    route: str
    endpoint: str
    ok: bool
    status: str  # delivered | pending | failed | skipped
    error: str | None = None


_APPRISE_LOG = logging.getLogger("apprise")
_capture: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "flext_quality_apprise_warnings", default=None
)


class _FoldAppriseWarnings(logging.Filter):
    """Takes Apprise's warnings about the send running in this context (see :func:`apprise_send`).

    Their text becomes the delivery's error, which our one WARNING line names; the record
    itself goes on at DEBUG, so a failure is not logged twice. Apprise copies the context
    into its worker threads, so a send it runs on a thread is covered too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Collect and demote warnings of a send in progress; let everything else through."""
        lines = _capture.get()
        if lines is None or record.levelno < logging.WARNING:
            return True
        lines.append(record.getMessage())  # already masked by the log record factory
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return _APPRISE_LOG.isEnabledFor(logging.DEBUG)


_FOLD = _FoldAppriseWarnings()


@contextmanager
def _apprise_warnings() -> Iterator[list[str]]:
    """Collect the warnings Apprise logs in this context, instead of logging them."""
    _APPRISE_LOG.addFilter(_FOLD)  # idempotent
    lines: list[str] = []
    token = _capture.set(lines)
    # Apprise's warnings are the only error text there is: make sure they are created even
    # when logging is set quieter (the filter then drops them after collecting).
    restore = None if _APPRISE_LOG.isEnabledFor(logging.WARNING) else _APPRISE_LOG.level
    if restore is not None:
        _APPRISE_LOG.setLevel(logging.WARNING)
    try:
        yield lines
    finally:
        _capture.reset(token)
        if restore is not None:
            _APPRISE_LOG.setLevel(restore)


def apprise_send(
    url: str, title: str, body: str, body_format: str, notify_type: str
) -> tuple[bool, str | None]:
    """Send one message to one Apprise URL; return (ok, Apprise's warnings on failure).

    ``notify_type`` is Apprise's (``failure`` for a red alert, ``success`` for a recovery...).
    Logs nothing at WARNING itself: the caller logs the failure once, with this error text.
    """
    register_url(url)  # before Apprise parses (and DEBUG-logs) the URL
    # One plugin from the one URL: ``Apprise.add(str)`` would split a string at spaces and
    # commas into several URLs and send to each of them.
    with quiet_apprise():
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return False, "not a valid Apprise URL"
    app = apprise.Apprise()
    app.add(plugin)
    with _apprise_warnings() as warnings:
        try:
            ok = bool(app.notify(body=body, title=title, body_format=body_format,
                                 notify_type=apprise.NotifyType(notify_type)))
        except Exception as error:  # a plugin bug (or a bad stored type) must not stop the flush
            return False, f"{type(error).__name__}: {error}"
    if ok:
        return True, None
    lines = [line.strip() for line in warnings if line.strip()]
    return False, "; ".join(lines[-3:]) or "delivery failed"


def _url_problem(url: str) -> str | None:
    """Why Apprise cannot use ``url`` as one endpoint, or None (Apprise logs nothing)."""
    if any(char.isspace() for char in url):
        return "a URL cannot contain spaces (Apprise would split it; one URL per list item)"
    if parse_urls(url) != [url]:  # type: ignore[no-untyped-call]
        return "this is more than one URL to Apprise (one URL per list item)"
    with quiet_apprise():
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        return "not a URL Apprise supports (see https://github.com/caronc/apprise/wiki)"
    return None


def validate_routes(routes: list[RouteSpec]) -> None:
    """Refuse routes whose URLs Apprise cannot use, with one error and masked URLs only.

    The key is the setting's dotted path, as in other setting errors: ``routes.0.urls.1``.
    """
    try:
        route_names(routes)
    except ValueError as error:
        raise NotifyError(str(error)) from None
    for n, route in enumerate(routes):
        for i, url in enumerate(route.urls):
            register_url(url)
            problem = _url_problem(url)
            if problem is not None:
                raise NotifyError(f"invalid setting routes.{n}.urls.{i}={mask_as_written(url)!r}: {problem}")


def _shown(message: OutboxMessage) -> str:
    """The stored endpoint, masked again (an older version stored placeholder values plainly)."""
    return mask_text(message.endpoint, ())


def _log_failure(outcome: DeliveryOutcome, attempts: int, opened_for_s: float | None) -> None:
    """The one WARNING line of a failed delivery (masked endpoint and error)."""
    log.warning(
        "outbox: delivery to %s failed (attempt %d, %s%s): %s", outcome.endpoint, attempts,
        "final" if outcome.status == "failed" else "will retry",
        "" if opened_for_s is None else f"; circuit opened for {opened_for_s:g}s", outcome.error,
    )


class Notifier:
    """Delivers the outbox of ``store`` to the endpoints of ``routes``.

    ``clock``, ``rng`` and ``sender`` are the testing hooks: time, jitter, and the I/O.
    """

    def __init__(
        self,
        store: MetricStore,
        routes: list[RouteSpec],
        policy: DeliveryPolicy | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        sender: Sender = apprise_send,
    ) -> None:
        self.store = store
        self.routes = dict(zip(route_names(routes), routes, strict=True))
        self.policy = policy or DeliveryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.sender = sender

    def backoff(self, attempts: int) -> timedelta:
        """Delay before the next try after ``attempts`` failures: exponential, capped, jittered."""
        p = self.policy
        delay = min(p.backoff_max_s, p.backoff_base_s * 2 ** max(0, attempts - 1))
        return timedelta(seconds=delay * (0.5 + self.rng.random() / 2))

    def _url(self, row: OutboxRow) -> str | None:
        route = self.routes.get(row.message.route)
        if route is None or row.message.url_index >= len(route.urls):
            return None
        return route.urls[row.message.url_index]

    def flush(
        self, message_ids: list[str] | None = None, *, probe: bool = False
    ) -> list[DeliveryOutcome]:
        """Try every due message (or just ``message_ids``); return one outcome per message.

        ``probe`` also tries channels whose circuit is open, as their half-open try (a test
        message: a person asks whether the endpoint works *now*).
        """
        now = self.clock()
        p = self.policy
        rows, expired = claim_due(
            self.store, now, claim_until=now + timedelta(seconds=p.claim_s),
            message_ids=message_ids, expire_before=now - timedelta(hours=p.max_age_hours),
            expire_reason=f"undelivered after {p.max_age_hours:g}h", in_order=not probe,
        )
        if expired:
            log.warning("outbox: %d message(s) failed for good (too old)", expired)
        waiting = self._waiting(message_ids, {r.message.message_id for r in rows}) if message_ids else []
        if not rows:
            return waiting
        channels: dict[str, list[OutboxRow]] = {}
        for row in rows:
            channels.setdefault(row.channel, []).append(row)
        breakers = load_breakers(self.store)
        outcomes: list[DeliveryOutcome] = []
        for channel, queue in channels.items():
            breaker = breakers.get(channel, BreakerRow(channel))
            outcomes.extend(self._flush_channel(queue, breaker, now, probe=probe))
        outcomes.extend(waiting)
        if message_ids is not None:
            order = {m: i for i, m in enumerate(message_ids)}
            outcomes.sort(key=lambda o: order.get(o.message_id, len(order)))
        return outcomes

    def _waiting(self, message_ids: list[str], claimed: set[str]) -> list[DeliveryOutcome]:
        """The asked-for messages that are pending but were not sent now: they wait behind an
        earlier message to their endpoint (or another flusher is sending them)."""
        rest = [m for m in message_ids if m not in claimed]
        if not rest:
            return []
        rows = self.store.fetch(
            "SELECT message_id, route, endpoint FROM outbox_record "
            "WHERE status = 'pending' AND message_id IN (SELECT unnest(?::VARCHAR[]))", [rest])
        return [DeliveryOutcome(str(mid), str(route), mask_text(str(endpoint), ()), False, "skipped",
                                "waiting behind an earlier message to this endpoint")
                for mid, route, endpoint in rows]

    def _flush_channel(
        self, queue: list[OutboxRow], breaker: BreakerRow, now: datetime, *, probe: bool
    ) -> list[DeliveryOutcome]:
        p = self.policy
        if breaker.open_until is not None and now < breaker.open_until and not probe:
            release_claims(self.store, [r.message.message_id for r in queue])
            log.info("outbox: circuit of %s open until %s; %d message(s) wait",
                     queue[0].message.endpoint, breaker.open_until, len(queue))
            return [self._skipped(r, "circuit open") for r in queue]
        outcomes: list[DeliveryOutcome] = []
        batch: list[Attempt] = []
        last_write = time.monotonic()
        half_open = breaker.open_until is not None
        start = breaker
        rest: list[OutboxRow] = []
        for i, row in enumerate(queue):
            attempt, outcome, url_known = self._send(row, now)
            batch.append(attempt)
            outcomes.append(outcome)
            if outcome.ok:
                breaker = replace(breaker, consecutive_failures=0, open_until=None)
                half_open = False
            else:
                breaker = replace(breaker, consecutive_failures=breaker.consecutive_failures + 1)
                opens = url_known and (half_open or breaker.consecutive_failures >= p.breaker_threshold)
                _log_failure(outcome, attempt.attempts, p.breaker_cooldown_s if opens else None)
                if opens:
                    breaker = replace(
                        breaker, open_until=now + timedelta(seconds=p.breaker_cooldown_s),
                        opened_count=breaker.opened_count + 1,
                    )
                    rest = queue[i + 1:]
                    outcomes.extend(self._skipped(r, "circuit open") for r in rest)
                    break
                if attempt.status == "pending":
                    # the endpoint's later messages wait behind this one (kept in order)
                    rest = queue[i + 1:]
                    outcomes.extend(self._skipped(r, "waiting behind an earlier message") for r in rest)
                    break
            # Outcomes are written in small batches: one transaction per message would cost
            # more than the sending; a crash can at worst resend the last second's messages.
            if len(batch) >= _BATCH or time.monotonic() - last_write >= _BATCH_S:
                record_attempts(self.store, batch, now=now)
                batch, last_write = [], time.monotonic()
        record_attempts(self.store, batch, now=now, breaker=breaker if breaker != start else None,
                        release=[r.message.message_id for r in rest])
        return outcomes

    def _send(self, row: OutboxRow, now: datetime) -> tuple[Attempt, DeliveryOutcome, bool]:
        """Send one message; return what to record, the outcome, and whether its URL exists."""
        m = row.message
        url = self._url(row)
        error: str | None
        if url is None:
            ok, error = False, f"route {m.route!r} (URL {m.url_index}) is no longer configured"
        else:
            ok, raw = self.sender(url, m.title, m.body, m.body_format, m.notify_type)
            error = None if ok else mask_text(raw or "delivery failed", secret_parts(url))
        attempts = row.attempts + 1
        # where it really went: the route's URL now (it may have changed since it was queued)
        shown = mask_url(url) if url is not None else _shown(m)
        if ok:
            return (Attempt(m.message_id, "delivered", attempts, now, endpoint=shown),
                    DeliveryOutcome(m.message_id, m.route, shown, True, "delivered"), True)
        status = "failed" if attempts >= self.policy.max_attempts else "pending"
        return (Attempt(m.message_id, status, attempts, now, now + self.backoff(attempts), error,
                        endpoint=shown),
                DeliveryOutcome(m.message_id, m.route, shown, False, status, error),
                url is not None)

    @staticmethod
    def _skipped(row: OutboxRow, why: str) -> DeliveryOutcome:
        m = row.message
        return DeliveryOutcome(m.message_id, m.route, _shown(m), False, "skipped", why)


def send_test_notification(
    store: MetricStore,
    routes: list[RouteSpec],
    *,
    purpose: str = "alerts",
    now: datetime | None = None,
    policy: DeliveryPolicy | None = None,
    sender: Sender = apprise_send,
) -> list[DeliveryOutcome]:
    """Queue a test message for every endpoint of ``purpose`` and deliver it right away.

    Returns one outcome per endpoint (masked endpoint, ok flag, error text). Each test message
    is tried exactly once, also through an open circuit (as its half-open try: success closes
    the circuit); a failed one is recorded as ``failed`` at once, with its error, instead of
    staying ``pending``: a test answers "does this endpoint work now?", and resending a stale
    test for the next 48 hours would only confuse. (A test message that the scheduler's flush
    happens to claim first, in the moment between queueing and sending, follows the normal
    retry rules.)
    """
    stamp = now or utc_now()
    text = f"Test notification from flext-quality at {stamp:%Y-%m-%d %H:%M:%S} UTC."

    def render(fmt: str) -> tuple[str, str]:
        body = f"<p>{text}</p>" if fmt == "html" else text
        return "flext-quality test notification", body

    messages = route_messages(routes, purpose=purpose, project=None, render=render,
                              dedup=f"test|{stamp.isoformat()}", now=stamp)
    ids = enqueue_messages(store, messages)
    # max_attempts=1: the outbox's own rule "failed after max_attempts" makes one try final.
    once = replace(policy or DeliveryPolicy(), max_attempts=1)
    notifier = Notifier(store, routes, once, clock=lambda: stamp, sender=sender)
    return notifier.flush(message_ids=ids, probe=True)
