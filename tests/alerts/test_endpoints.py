"""Real deliveries on loopback: email to aiosmtpd, json:// webhooks, and Apprise's Slack plugin."""

from __future__ import annotations

from datetime import timedelta
from email.message import Message

import pytest
from alert_helpers import T0, HttpReceiver, RunMaker, SmtpSink
from apprise.plugins.slack import NotifySlack

from flext_quality import jobs
from flext_quality.settings import Settings
from storage import FindingRecord
from storage.store import MetricStore

GATES = [{"metric": "bandit.issues.high", "max": 0}, {"metric": "quality.score", "min": 70}]


def _parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
        for part in message.walk() if not part.is_multipart()
    }


def _red_run(store: MetricStore, make_run: RunMaker, settings: Settings) -> jobs.Evaluation:
    make_run({"bandit.issues.high": 0, "quality.score": 80}, at=T0)
    run_id = make_run({"bandit.issues.high": 3, "quality.score": 65}, at=T0 + timedelta(hours=1),
                      author="Grace Hopper")
    evaluation, outcomes = jobs.evaluate_and_deliver(settings, store, run_id,
                                                     now=T0 + timedelta(hours=1))
    assert outcomes and all(o.ok for o in outcomes), outcomes
    return evaluation


def test_alert_email_is_multipart_with_text_and_html(
    store: MetricStore, make_run: RunMaker, smtp_sink: SmtpSink
) -> None:
    settings = Settings(db=store.path, gates=GATES,
                        routes=[{"purpose": "alerts", "urls": [smtp_sink.url()]}])
    _red_run(store, make_run, settings)
    assert len(smtp_sink.messages) == 1
    mail_from, rcpt, message = smtp_sink.messages[0]
    assert mail_from == "alerts@example.com" and rcpt == ["ops@example.com"]
    assert message["Subject"] == "flext-quality: demo: 2 gate(s) RED"
    assert "Quality" in message["From"] and message["To"] == "ops@example.com"
    assert message.get_content_type() == "multipart/alternative"
    parts = _parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    for body in parts.values():
        assert "bandit.issues.high max=0" in body and "quality.score min=70" in body
        assert "Grace Hopper" in body
    assert "<li><b>RED: bandit.issues.high max=0</b>" in parts["text/html"]
    assert "<li>" not in parts["text/plain"] and "<b>" not in parts["text/plain"]


def test_report_email_and_slack_report(
    store: MetricStore, make_run: RunMaker, smtp_sink: SmtpSink, http_receiver: HttpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(NotifySlack, "webhook_url", http_receiver.url("/services"))
    slack = "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx/#quality?blocks=yes"
    settings = Settings(db=store.path, gates=GATES, routes=[
        {"purpose": "reports", "urls": [smtp_sink.url(), slack]},
        {"purpose": "alerts", "urls": [smtp_sink.url(to="nobody@example.com")], "projects": ["other"]},
    ])
    finding = FindingRecord("ruff", "F401", "error", "pkg/mod.py", 3, 1, "unused import", "fp-1")
    for day, score in enumerate([72, 75, 71, 78]):
        make_run({"quality.score": score, "bandit.issues.high": 0},
                 at=T0 + timedelta(days=day), findings=[finding] if day == 3 else [])
    outcomes = jobs.send_reports(settings, store, None, period="week", now=T0 + timedelta(days=4))
    assert sorted(o.status for o in outcomes) == ["delivered", "delivered"]
    # the alerts route for project "other" got nothing
    assert [rcpt for _, rcpt, _ in smtp_sink.messages] == [["ops@example.com"]]
    parts = _parts(smtp_sink.messages[0][2])
    assert set(parts) == {"text/plain", "text/html"}
    for body in parts.values():
        assert "quality.score" in body and "F401" in body and "pkg/mod.py" in body
    assert "<table>" in parts["text/html"]
    # Slack's real plugin posted Block Kit to the local receiver, at the token path
    (request,) = http_receiver.requests
    assert request.path == "/services/T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx"
    payload = request.json()
    assert payload["channel"] == "#quality"
    blocks = payload["attachments"][0]["blocks"]
    assert blocks and all("type" in block for block in blocks)
    text = str(blocks)
    assert "quality.score" in text and "F401" in text
    assert "weekly report: demo" in text
    # the same report slot is never queued twice
    assert jobs.send_reports(settings, store, None, period="week", now=T0 + timedelta(days=4)) == []
    assert len(smtp_sink.messages) == 1


def test_json_webhook_payload_and_headers(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver
) -> None:
    url = f"json://127.0.0.1:{http_receiver.port}/hooks/quality?+X-Api-Key=k3y-value-xyz"
    settings = Settings(db=store.path, gates=GATES, routes=[{"purpose": "alerts", "urls": [url]}])
    _red_run(store, make_run, settings)
    (request,) = http_receiver.requests
    assert request.path == "/hooks/quality"
    assert request.headers["X-Api-Key"] == "k3y-value-xyz"
    payload = request.json()
    assert set(payload) >= {"version", "title", "message", "type"}
    assert payload["title"] == "flext-quality: demo: 2 gate(s) RED"
    assert "value 3 vs threshold 0" in payload["message"]
    assert "value 65 vs threshold 70" in payload["message"]
    endpoint = store.fetch("SELECT endpoint FROM outbox")[0][0]
    assert "k3y-value-xyz" not in endpoint and "127.0.0.1" in endpoint


def test_commit_data_cannot_ping_a_slack_channel_or_plant_a_link(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(NotifySlack, "webhook_url", http_receiver.url("/services"))
    slack = "slack://T1ABCDEFG/B2HIJKLMN/abcdefghijklmnopqrstuvwx/#quality?blocks=yes"
    settings = Settings(db=store.path, gates=GATES, routes=[
        {"purpose": "alerts", "urls": [slack]}, {"purpose": "reports", "urls": [slack]}])
    evil = "<!channel> *urgent* [click](http://evil.example/x) <http://evil.example/y|here>"
    make_run({"bandit.issues.high": 0, "quality.score": 80}, at=T0, project="<!here>[a](http://evil.example)")
    run_id = make_run({"bandit.issues.high": 3, "quality.score": 65}, at=T0 + timedelta(hours=1),
                      project="<!here>[a](http://evil.example)", author=f"Eve {evil}", message=evil)
    jobs.evaluate_and_deliver(settings, store, run_id, now=T0 + timedelta(hours=1))
    jobs.send_reports(settings, store, None, period="week", now=T0 + timedelta(days=1))
    assert len(http_receiver.requests) == 2  # the alert and the report
    for request in http_receiver.requests:
        text = str(request.json()["attachments"][0]["blocks"])
        assert "click" in text and "evil.example" in text  # shown as written ...
        # ... but no mention and no Slack link made from the data
        assert "<!channel>" not in text and "<!here>" not in text
        assert "<http://evil.example" not in text
