"""Outbox delivery rules: backoff with jitter, final failure, expiry, claims, test notifications.

The sender is the I/O hook here (a recorder that fails on demand); real endpoints are in
test_endpoints.py and test_scenario.py.
"""

from __future__ import annotations

import random
from datetime import timedelta

from alert_helpers import T0, HttpReceiver

from alerts.config import RouteSpec
from alerts.messages import route_messages
from alerts.notify import DeliveryPolicy, Notifier, send_test_notification
from storage.alert_store import claim_due, enqueue_messages
from storage.store import MetricStore

ROUTES = [RouteSpec(purpose="alerts", name="ops", urls=["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"])]


class Recorder:
    """Records sends; fails while ``down``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.down = False

    def __call__(
        self, url: str, title: str, body: str, fmt: str, notify_type: str
    ) -> tuple[bool, str | None]:
        if self.down:
            return False, f"connection refused by {url}"
        self.sent.append((url, title))
        return True, None


def _queue(store: MetricStore, key: str = "m1", minutes: int = 0) -> list[str]:
    messages = route_messages(ROUTES, purpose="alerts", project="demo",
                              render=lambda fmt: (f"title {key}", f"body {key}"), dedup=key,
                              now=T0 + timedelta(minutes=minutes))
    return enqueue_messages(store, messages)


def test_one_message_per_endpoint_and_dedup(store: MetricStore) -> None:
    assert len(_queue(store)) == 2
    assert _queue(store) == []  # same content: nothing new
    endpoints = store.fetch("SELECT endpoint, body_format FROM outbox ORDER BY endpoint")
    assert [e for e, _ in endpoints] == [
        "json://127.0.0.1:9/a?method=POST&overflow=upstream&retry=0&wait=0.5&optional=no",
        "json://127.0.0.1:9/b?method=POST&overflow=upstream&retry=0&wait=0.5&optional=no",
    ]


def test_backoff_is_exponential_capped_and_jittered(store: MetricStore) -> None:
    policy = DeliveryPolicy(backoff_base_s=10, backoff_max_s=100)
    notifier = Notifier(store, ROUTES, policy, rng=random.Random(7))
    for attempts, full in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = [notifier.backoff(attempts).total_seconds() for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 40  # jitter spreads retries


def test_final_failure_after_max_attempts(store: MetricStore) -> None:
    sender = Recorder()
    sender.down = True
    now = T0
    notifier = Notifier(store, ROUTES, DeliveryPolicy(max_attempts=3, backoff_base_s=1,
                                                      breaker_threshold=99),
                        clock=lambda: now, sender=sender)
    _queue(store)
    statuses = []
    for step in range(4):
        now = T0 + timedelta(minutes=step)
        statuses.append(sorted({o.status for o in notifier.flush()}))
    assert statuses == [["pending"], ["pending"], ["failed"], []]
    rows = store.fetch("SELECT status, attempts, last_error FROM outbox")
    assert {(s, a) for s, a, _ in rows} == {("failed", 3)}
    assert all("connection refused" in e for _, _, e in rows)


def test_messages_expire_after_max_age(store: MetricStore) -> None:
    sender = Recorder()
    _queue(store)
    late = T0 + timedelta(hours=49)
    notifier = Notifier(store, ROUTES, DeliveryPolicy(max_age_hours=48), clock=lambda: late,
                        sender=sender)
    assert notifier.flush() == []
    assert sender.sent == []
    errors = store.fetch("SELECT DISTINCT status, last_error FROM outbox")
    assert errors == [("failed", "undelivered after 48h")]


def test_claimed_messages_are_not_sent_twice(store: MetricStore) -> None:
    _queue(store)
    first, _ = claim_due(store, T0, claim_until=T0 + timedelta(minutes=10))
    second, _ = claim_due(store, T0 + timedelta(minutes=1), claim_until=T0 + timedelta(minutes=11))
    assert len(first) == 2 and second == []
    # a crashed flusher's claim runs out, and the messages are taken again
    third, _ = claim_due(store, T0 + timedelta(minutes=11), claim_until=T0 + timedelta(minutes=20))
    assert len(third) == 2


def test_breaker_is_per_endpoint(store: MetricStore) -> None:
    sender = Recorder()
    now = T0

    def flaky(url: str, title: str, body: str, fmt: str, notify_type: str) -> tuple[bool, str | None]:
        return (False, "down") if url.endswith("/a") else sender(url, title, body, fmt, notify_type)

    notifier = Notifier(store, ROUTES, DeliveryPolicy(breaker_threshold=1, backoff_base_s=1),
                        clock=lambda: now, sender=flaky)
    _queue(store, "m1")
    _queue(store, "m2")
    outcomes = notifier.flush()
    by_endpoint = {(o.endpoint.split("?")[0][-1], o.status) for o in outcomes}
    assert by_endpoint == {("a", "pending"), ("a", "skipped"), ("b", "delivered")}
    assert len(sender.sent) == 2  # endpoint b got both messages


def test_send_test_notification_reports_each_endpoint(
    store: MetricStore, http_receiver: HttpReceiver
) -> None:
    routes = [RouteSpec(purpose="alerts", urls=[
        f"json://127.0.0.1:{http_receiver.port}/ok",
        "json://127.0.0.1:1/closed?+X-Token=NeverShowThis1",
    ])]
    outcomes = send_test_notification(store, routes, now=T0)
    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error and "NeverShowThis1" not in outcomes[1].error
    assert "NeverShowThis1" not in outcomes[1].endpoint
    assert http_receiver.requests[0].json()["title"] == "flext-quality test notification"
    assert [o.status for o in outcomes] == ["delivered", "failed"]
    # A test is tried once: the failure is final, so no later flush resends a stale test.
    rows = store.fetch("SELECT status, attempts FROM outbox ORDER BY status")
    assert rows == [("delivered", 1), ("failed", 1)]
    later = Notifier(store, routes, clock=lambda: T0 + timedelta(hours=1))
    assert later.flush() == []
    assert send_test_notification(store, routes, purpose="reports") == []
