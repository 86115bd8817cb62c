"""A sequence of runs against a real loopback webhook: alert once, remind, survive an outage
and a restart, recover once. Time is injected; nothing sleeps."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from alert_helpers import T0, HttpReceiver, RunMaker

from flext_quality import jobs
from flext_quality.settings import Settings
from storage.alert_store import load_breakers
from storage.store import MetricStore


def _settings(db: Path, receiver: HttpReceiver) -> Settings:
    return Settings(
        db=db,
        gates=[
            {"metric": "bandit.issues.high", "max": 0},
            {"metric": "ruff.issues", "max_increase": 5},
        ],
        routes=[{"purpose": "alerts", "name": "ops",
                 "urls": [f"json://127.0.0.1:{receiver.port}/hook?+X-Token=abc123token"]}],
        notify={"reminder_hours": 24, "breaker_threshold": 2, "breaker_cooldown_s": 600,
                "backoff_base_s": 60, "backoff_max_s": 120, "max_attempts": 50},
        dashboard={"base_url": "https://quality.example.com"},
    )


def _titles(receiver: HttpReceiver) -> list[str]:
    return [r.json()["title"] for r in receiver.requests]


def test_alert_lifecycle_with_outage_and_restart(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    settings = _settings(store.path, http_receiver)

    def step(measures: dict[str, float], at: datetime) -> jobs.Evaluation:
        run_id = make_run(measures, at=at)
        evaluation, _ = jobs.evaluate_and_deliver(settings, store, run_id, now=at)
        return evaluation

    # 1. all green: nothing is sent
    step({"bandit.issues.high": 0, "ruff.issues": 10}, T0)
    assert http_receiver.requests == []

    # 2. bandit goes red: exactly one alert, with value, threshold, previous, commit, author, link
    red = step({"bandit.issues.high": 2, "ruff.issues": 10}, T0 + timedelta(hours=1))
    assert [r.state for r in red.results] == ["fail", "pass"]
    assert len(http_receiver.requests) == 1
    payload = http_receiver.requests[0].json()
    assert "RED" in payload["title"] and "demo" in payload["title"]
    for fragment in ("bandit.issues.high max=0", "value 2 vs threshold 0", "previous 0",
                     "002abcdef0", "Ada Lovelace", "https://quality.example.com/gates?project=demo"):
        assert fragment in payload["message"], fragment
    assert http_receiver.requests[0].headers["X-Token"] == "abc123token"

    # 3. stays red: no second alert for the same violation
    step({"bandit.issues.high": 2, "ruff.issues": 10}, T0 + timedelta(hours=2))
    assert len(http_receiver.requests) == 1

    # 4. still red a day later: one reminder
    step({"bandit.issues.high": 2, "ruff.issues": 10}, T0 + timedelta(hours=26))
    step({"bandit.issues.high": 2, "ruff.issues": 10}, T0 + timedelta(hours=27))
    assert len(http_receiver.requests) == 2
    assert "STILL RED" in http_receiver.requests[1].json()["message"]

    # 5. the endpoint goes down; ruff jumps: the alert waits in the outbox
    http_receiver.status = 503
    down_at = T0 + timedelta(hours=28)
    ruff_red = step({"bandit.issues.high": 2, "ruff.issues": 30}, down_at)
    assert [e.kind for e in ruff_red.events] == ["alert"]
    pending = store.query("SELECT status, attempts FROM outbox WHERE status = 'pending'")
    assert pending.rows() == [("pending", 1)]
    # a retry before the backoff has passed does nothing; after it, a second failure opens the circuit
    assert jobs.flush_outbox(settings, store, now=down_at + timedelta(seconds=10)) == []
    second = jobs.flush_outbox(settings, store, now=down_at + timedelta(minutes=3))
    assert [o.status for o in second] == ["pending"]
    breaker = load_breakers(store)["ops#0"]
    assert breaker.open_until is not None and breaker.opened_count == 1
    # while open, the route is skipped without an attempt
    skipped = jobs.flush_outbox(settings, store, now=down_at + timedelta(minutes=8))
    assert [o.status for o in skipped] == ["skipped"]
    assert store.fetch("SELECT attempts FROM outbox WHERE status = 'pending'") == [(2,)]

    # 6. restart: new store object and settings; re-evaluating the last run queues nothing new
    store2 = MetricStore(store.path)
    settings2 = _settings(store2.path, http_receiver)
    again, _ = jobs.evaluate_and_deliver(settings2, store2, ruff_red.run_id, now=down_at)
    assert again.events == [] and again.message_ids == []
    assert store2.fetch("SELECT count(*) FROM outbox") == [(3,)]

    # 7. endpoint back; after the cool-down the half-open try delivers, the circuit closes,
    #    and the waiting alert arrives exactly once
    http_receiver.status = 200
    back = jobs.flush_outbox(settings2, store2, now=down_at + timedelta(minutes=20))
    assert [o.status for o in back] == ["delivered"]
    assert load_breakers(store2)["ops#0"].open_until is None
    assert jobs.flush_outbox(settings2, store2, now=down_at + timedelta(minutes=40)) == []
    titles = _titles(http_receiver)
    assert len(titles) == 3
    assert "ruff.issues max_increase=5" in http_receiver.requests[2].json()["message"]

    # 8. green again: one recovery per gate that was red, in one grouped message
    RunMaker(store2, count=make_run.count)({"bandit.issues.high": 0, "ruff.issues": 30},
                                            at=T0 + timedelta(hours=30))
    last = store2.fetch("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1")[0][0]
    green, delivered = jobs.evaluate_and_deliver(settings2, store2, last, now=T0 + timedelta(hours=30))
    assert sorted(e.kind for e in green.events) == ["recovery", "recovery"]
    assert [d.status for d in delivered] == ["delivered"]
    assert len(http_receiver.requests) == 4
    assert "2 gate(s) green again" in http_receiver.requests[3].json()["title"]
    statuses = store2.fetch("SELECT status, count(*) FROM outbox GROUP BY 1")
    assert statuses == [("delivered", 4)]
    states = store2.fetch("SELECT gate, state FROM alert_states ORDER BY gate")
    assert [s for _, s in states] == ["pass", "pass"]
