"""Each message goes with the Apprise notify type of its news: a red gate ``failure``, a
recovery ``success``, a stale gate ``warning``, reports and tests ``info``.

The type is decided when a message is written (from the kinds of its events), stored in the
outbox's ``notify_type`` column and handed to Apprise at delivery. Checked where it shows: the
``type`` field of the JSON that Apprise's ``json://`` plugin posts to a real loopback receiver.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from alert_helpers import T0, HttpReceiver, RunMaker

from alerts.config import RouteSpec
from alerts.messages import AlertEvent, alert_messages
from alerts.notify import send_test_notification
from flext_quality import jobs
from flext_quality.settings import Settings
from storage.store import MetricStore


def _types(receiver: HttpReceiver) -> list[str]:
    types = [r.json()["type"] for r in receiver.requests]
    receiver.requests.clear()
    return types


def test_red_recovery_stale_report_and_test_types_reach_the_webhook(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    url = f"json://127.0.0.1:{http_receiver.port}/hook"
    settings = Settings(
        db=store.path, notify={"stale_after_runs": 1},
        gates=[{"metric": "bandit.issues.high", "max": 0}],
        routes=[{"purpose": "alerts", "urls": [url]}, {"purpose": "reports", "urls": [url]}],
    )

    def run(measures: dict[str, float], hour: int) -> list[str]:
        run_id = make_run(measures, at=T0 + timedelta(hours=hour))
        _, outcomes = jobs.evaluate_and_deliver(settings, store, run_id, now=T0 + timedelta(hours=hour))
        assert all(o.ok for o in outcomes), outcomes
        return _types(http_receiver)

    assert run({"bandit.issues.high": 0}, 0) == []
    assert run({"bandit.issues.high": 2}, 1) == ["failure"]  # RED
    assert run({"bandit.issues.high": 0}, 2) == ["success"]  # GREEN again
    assert run({"ruff.issues": 1}, 3) == ["warning"]  # STALE: the metric went missing
    assert run({"bandit.issues.high": 0}, 4) == ["success"]
    stored = store.fetch("SELECT notify_type FROM outbox ORDER BY created_at")
    assert [t for (t,) in stored] == ["failure", "success", "warning", "success"]

    outcomes = jobs.send_reports(settings, store, None, period="week", now=T0 + timedelta(hours=5))
    assert outcomes and all(o.ok for o in outcomes)
    assert _types(http_receiver) == ["info"]
    outcomes = send_test_notification(store, list(settings.routes), now=T0 + timedelta(hours=6))
    assert [o.ok for o in outcomes] == [True]
    assert _types(http_receiver) == ["info"]


def _event(kind: str, n: int) -> AlertEvent:
    stale = kind == "stale"
    return AlertEvent(
        kind=kind, project="demo", gate=f"gate {n}", metric="bandit.issues.high",
        value=None if stale else 3.0, threshold=None if stale else 0.0,
        rule=None if stale else "<= 0", rule_against=None, tolerance=0.0, reference_value=None,
        previous_value=0.0, detail="bandit.issues.high not reported for 3 run(s)" if stale
        else "bandit.issues.high = 3 violates <= 0 (threshold 0)",
        run_id="r1", commit_sha="0123456789abcdef", author="Ada", violation=f"{kind}{n}",
    )


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["alert"], "failure"),
        (["reminder"], "failure"),
        (["recovery"], "success"),
        (["stale"], "warning"),
        (["alert", "recovery"], "failure"),
        (["stale", "recovery"], "warning"),
        (["stale", "alert"], "failure"),
        (["recovery", "stale", "reminder"], "failure"),
    ],
)
def test_the_worst_news_of_a_run_decides_the_type(kinds: list[str], expected: str) -> None:
    routes = [RouteSpec(purpose="alerts", urls=["json://127.0.0.1:9/a", "mailto://127.0.0.1:25/?to=a@b.c"])]
    messages = alert_messages([_event(kind, n) for n, kind in enumerate(kinds)], project="demo",
                              routes=routes, dashboard_url=None, now=T0)
    assert [m.notify_type for m in messages] == [expected, expected]  # one per endpoint
