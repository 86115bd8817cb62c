"""Each message goes with the Apprise notify type of its news: a red gate ``failure``, a
recovery ``success``, a stale gate ``warning``, reports and tests ``info``.

Checked where it shows: the ``type`` field of the JSON that Apprise's ``json://`` plugin posts
to a real loopback receiver. The kind is read back from the stored message (the outbox has no
column for it), so a table over :func:`alerts.messages.render_alert` in every body format keeps
that reading in step with how messages are written.
"""

from __future__ import annotations

from datetime import timedelta

import apprise
import pytest
from alert_helpers import T0, HttpReceiver, RunMaker

from alerts.messages import AlertEvent, render_alert
from alerts.notify import notify_type_for, send_test_notification
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

    outcomes = jobs.send_reports(settings, store, None, period="week", now=T0 + timedelta(hours=5))
    assert outcomes and all(o.ok for o in outcomes)
    assert _types(http_receiver) == ["info"]
    outcomes = send_test_notification(store, list(settings.routes), now=T0 + timedelta(hours=6))
    assert [o.ok for o in outcomes] == [True]
    assert _types(http_receiver) == ["info"]


def _event(kind: str, gate: str = "bandit.issues.high max=0") -> AlertEvent:
    value = None if kind == "stale" else 3.0
    return AlertEvent(
        kind=kind, project="demo: api", gate=gate, metric="bandit.issues.high", value=value,
        threshold=0.0, previous_value=0.0,
        detail=f"bandit.issues.high = {value} violates max 0 (threshold 0)" if value is not None
        else "bandit.issues.high not reported for 3 runs",
        run_id="r1", commit_sha="0123456789abcdef", author="Ada", violation=kind,
    )


@pytest.mark.parametrize("fmt", ["markdown", "html", "text"])
@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["alert"], apprise.NotifyType.FAILURE),
        (["reminder"], apprise.NotifyType.FAILURE),
        (["recovery"], apprise.NotifyType.SUCCESS),
        (["stale"], apprise.NotifyType.WARNING),
        (["alert", "recovery"], apprise.NotifyType.FAILURE),
        (["stale", "recovery"], apprise.NotifyType.WARNING),
        (["stale", "alert"], apprise.NotifyType.FAILURE),
    ],
)
def test_the_type_is_read_from_the_rendered_alert(
    kinds: list[str], expected: apprise.NotifyType, fmt: str
) -> None:
    # Gate names that look like other kinds must not fool the reading.
    events = [_event(kind, gate=f"STALE: gate {i}") for i, kind in enumerate(kinds)]
    title, body = render_alert(events, fmt, link="https://q.example.com/gates?project=demo")
    assert notify_type_for(title, body) == expected


@pytest.mark.parametrize(
    "title",
    ["flext-quality test notification", "flext-quality weekly report: demo (2026-03-02)",
     "flext-quality daily report: 3 projects (2026-03-02)"],
)
def test_reports_and_tests_are_info(title: str) -> None:
    assert notify_type_for(title, "- **RED: x**: y") == apprise.NotifyType.INFO
