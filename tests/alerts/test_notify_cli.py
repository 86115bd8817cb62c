"""`flext-quality notify` through the command line: test exit codes, one-try test messages,
JSON output, option ranges; and one masked WARNING line per failed delivery.

Endpoints are real: the loopback HTTP receiver, and closed loopback ports for failures.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alert_helpers import T0, HttpReceiver, invoke_cli
from click.testing import Result

from alerts.config import RouteSpec
from alerts.messages import route_messages
from alerts.notify import DeliveryPolicy, Notifier, apprise_send, send_test_notification, utc_now
from storage.alert_store import enqueue_messages, list_outbox, load_breakers
from storage.store import MetricStore

SECRET = "hunter2secret"
DEAD = f"json://user:{SECRET}@127.0.0.1:9/hook"  # nothing listens on the discard port
# How DEAD is shown: masking is process-wide, so another test may have made "user" secret too.
DEAD_SHOWN = re.compile(r"json://(user|\*\*\*\*):\*\*\*\*@127\.0\.0\.1:9/hook")


def _config(tmp_path: Path, *urls: str) -> list[str]:
    config = tmp_path / "flext-quality.toml"
    quoted = ", ".join(f'"{u}"' for u in urls)
    config.write_text(f'[[routes]]\npurpose = "alerts"\nurls = [{quoted}]\n' if urls else "",
                      encoding="utf-8")
    return ["--db", str(tmp_path / "q.duckdb"), "--config", str(config)]


def _notify(common: list[str], *args: str) -> Result:
    return invoke_cli("notify", *args, *common)


def test_test_exits_1_when_an_endpoint_fails_and_the_failure_is_final(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    common = _config(tmp_path, f"json://127.0.0.1:{http_receiver.port}/ok", DEAD)
    result = _notify(common, "--test", "alerts")
    assert result.exit_code == 1, result.output
    assert SECRET not in result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("delivered alerts-1 json://127.0.0.1:")
    assert lines[1].startswith("failed    alerts-1 ") and DEAD_SHOWN.search(lines[1])
    assert "Connection error" in lines[1]
    assert len(http_receiver.requests) == 1

    # The failed test message is recorded as failed after its one try ...
    rows = json.loads(_notify(common, "--list", "--format", "json").stdout)
    assert sorted((r["status"], r["attempts"]) for r in rows) == [("delivered", 1), ("failed", 1)]
    failed = next(r for r in rows if r["status"] == "failed")
    assert failed["next_attempt_at"] is None and "Connection error" in failed["last_error"]
    # ... so a later flush has nothing to retry.
    flushed = _notify(common, "--flush", "--format", "json")
    assert flushed.exit_code == 0, flushed.output
    assert json.loads(flushed.stdout) == []


def test_test_exits_0_when_every_endpoint_works_and_prints_json(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    common = _config(tmp_path, f"json://127.0.0.1:{http_receiver.port}/a",
                     f"json://127.0.0.1:{http_receiver.port}/b")
    result = _notify(common, "--test", "alerts", "--format", "json")
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    assert [(o["route"], o["ok"], o["status"], o["error"]) for o in outcomes] == [
        ("alerts-1", True, "delivered", None), ("alerts-1", True, "delivered", None)]
    assert {r.path for r in http_receiver.requests} == {"/a", "/b"}


def test_test_json_of_a_failure_is_masked_and_exits_1(tmp_path: Path) -> None:
    result = _notify(_config(tmp_path, DEAD), "--test", "alerts", "--format", "csv")
    assert result.exit_code == 1
    header, row = result.stdout.splitlines()
    assert header == "message_id,route,endpoint,ok,status,error"
    assert ",false,failed," in row and DEAD_SHOWN.search(row) and SECRET not in row


def test_test_without_a_route_is_an_error(tmp_path: Path) -> None:
    result = _notify(_config(tmp_path), "--test", "alerts")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: no 'alerts' route configured: nothing to test\n"


def test_flush_prints_json(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    common = _config(tmp_path, f"json://127.0.0.1:{http_receiver.port}/ok")
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    routes = [RouteSpec(purpose="alerts", urls=[f"json://127.0.0.1:{http_receiver.port}/ok"])]
    enqueue_messages(store, route_messages(routes, purpose="alerts", project="demo",
                                           render=lambda fmt: ("title", "body"), dedup="m1",
                                           now=utc_now()))  # the CLI flushes at wall-clock time
    result = _notify(common, "--flush", "--format", "json")
    assert result.exit_code == 0, result.output
    [outcome] = json.loads(result.stdout)
    assert (outcome["route"], outcome["ok"], outcome["status"]) == ("alerts-1", True, "delivered")
    assert http_receiver.requests[0].json()["title"] == "title"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--list", "--limit", "-1"), "Invalid value for '--limit': -1 is not in the range x>=1"),
        (("--list", "--limit", "0"), "Invalid value for '--limit': 0 is not in the range x>=1"),
        (("--flush", "--list", "--format", "json"),
         "--format json prints the result of one action: choose one of --flush, --list"),
        (("--test", "alerts", "--flush", "--format", "csv"),
         "--format csv prints the result of one action: choose one of --flush, --test"),
    ],
)
def test_bad_option_values_are_usage_errors(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    result = _notify(_config(tmp_path), *args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_list_outbox_refuses_a_limit_below_one(store: MetricStore) -> None:
    with pytest.raises(ValueError, match="limit must be at least 1, got -1"):
        list_outbox(store, limit=-1)


def test_a_test_probes_an_open_circuit_and_closes_it(
    store: MetricStore, http_receiver: HttpReceiver
) -> None:
    routes = [RouteSpec(purpose="alerts", urls=[f"json://127.0.0.1:{http_receiver.port}/ok"])]
    http_receiver.status = 503  # the endpoint is down: one failure opens its circuit
    enqueue_messages(store, route_messages(routes, purpose="alerts", project="demo",
                                           render=lambda fmt: ("t", "b"), dedup="m1", now=T0))
    Notifier(store, routes, DeliveryPolicy(breaker_threshold=1), clock=lambda: T0).flush()
    assert load_breakers(store)["alerts-1#0"].open_until is not None

    http_receiver.status = 200  # back up: a test goes through the open circuit and closes it
    [outcome] = send_test_notification(store, routes, now=T0)
    assert (outcome.ok, outcome.status) == (True, "delivered")
    assert load_breakers(store)["alerts-1#0"].open_until is None


@pytest.mark.parametrize("level", [logging.DEBUG, logging.WARNING, logging.ERROR])
def test_a_failed_delivery_is_one_masked_warning_line(
    store: MetricStore, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    caplog.set_level(level)
    routes = [RouteSpec(purpose="alerts", urls=[DEAD])]
    # breaker_threshold=1: the failure also opens the circuit, still in the same one line
    [outcome] = send_test_notification(store, routes, now=T0,
                                       policy=DeliveryPolicy(breaker_threshold=1))
    assert not outcome.ok
    # Apprise's own text is the error, however quiet logging is set.
    assert outcome.error is not None and "Connection error" in outcome.error
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if level > logging.WARNING:
        assert warnings == []
        return
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    line = warnings[0].getMessage()
    assert warnings[0].name == "alerts.notify"
    assert line.startswith("outbox: delivery to json://") and DEAD_SHOWN.search(line)
    assert "(attempt 1, final; circuit opened for 300s): " in line
    assert "Connection error" in line
    assert SECRET not in caplog.text
    if level == logging.DEBUG:  # Apprise's warning is still there, one level down
        folded = [r for r in caplog.records if r.name == "apprise" and "Connection error" in r.getMessage()]
        assert folded and all(r.levelno == logging.DEBUG for r in folded)


def test_apprise_send_leaves_unrelated_apprise_warnings_alone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    ok, error = apprise_send(DEAD, "t", "b", "text", "info")
    assert not ok and error is not None
    logging.getLogger("apprise").warning("not about a send")
    assert [r.getMessage() for r in caplog.records] == ["not about a send"]


def test_a_message_behind_an_open_circuit_waits_for_the_circuit(tmp_path: Path) -> None:
    common = _config(tmp_path, DEAD)
    config = Path(common[-1])
    config.write_text(config.read_text() + "[notify]\nbreaker_threshold = 1\nbreaker_cooldown_s = 3600\n",
                      encoding="utf-8")
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    for key in ("m1", "m2"):
        enqueue_messages(store, route_messages([RouteSpec(purpose="alerts", urls=[DEAD])], purpose="alerts",
                                               project="demo", render=lambda fmt: ("title", "body"),
                                               dedup=key, now=utc_now()))
    flushed = _notify(common, "--flush")  # m1 fails and opens the circuit; m2 is skipped
    ((opened,),) = store.fetch("SELECT open_until FROM channel_breaker")
    assert flushed.stdout.splitlines()[0].endswith(
        f"; 2 pending, next attempt {opened:%Y-%m-%d %H:%M} UTC"), flushed.output
    listed = json.loads(_notify(common, "--list", "--format", "json").stdout)
    assert {row["next_attempt_at"][:16] for row in listed} == {f"{opened:%Y-%m-%d %H:%M}"}


def test_flush_says_what_waits_for_a_retry_and_when(tmp_path: Path) -> None:
    common = _config(tmp_path, DEAD)
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    enqueue_messages(store, route_messages([RouteSpec(purpose="alerts", urls=[DEAD])], purpose="alerts",
                                           project="demo", render=lambda fmt: ("title", "body"),
                                           dedup="m1", now=utc_now()))
    first = _notify(common, "--flush")
    assert first.exit_code == 0, first.output
    (due,) = store.fetch("SELECT next_attempt_at FROM outbox WHERE status = 'pending'")[0]
    waiting = f"; 1 pending, next attempt {due:%Y-%m-%d %H:%M} UTC"
    assert first.stdout.splitlines()[0] == f"0 delivered, 1 not delivered{waiting}"
    again = _notify(common, "--flush")  # nothing is due yet: it says so, instead of "0, 0"
    assert again.stdout.splitlines() == [f"0 delivered, 0 not delivered{waiting}"]
    assert SECRET not in first.output + again.output


def test_a_bad_route_url_is_shown_as_written(tmp_path: Path) -> None:
    written = "json://127.0.0.1:9/first,json://127.0.0.1:9/second"
    result = _notify(_config(tmp_path, written), "--test", "alerts")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: invalid setting routes.0.urls.0={written!r}: this is more than one URL to Apprise "
        "(one URL per list item)")


def test_show_prints_one_message_as_it_goes_out(tmp_path: Path) -> None:
    common = _config(tmp_path, DEAD)
    store = MetricStore(tmp_path / "q.duckdb")
    store.ensure_schema()
    def render(fmt: str) -> tuple[str, str]:
        return "RED: demo", f"- **{fmt}** body"

    enqueue_messages(store, route_messages([RouteSpec(purpose="alerts", urls=[DEAD])], purpose="alerts",
                                           project="demo", render=render, dedup="m1", now=utc_now()))
    (message_id,) = store.fetch("SELECT message_id FROM outbox")[0]
    shown = _notify(common, "--show", message_id[:8])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == f"message {message_id} (alerts, pending, info)"
    assert lines[2:] == ["title:  RED: demo", "", "- **markdown** body"]
    assert SECRET not in shown.output and DEAD_SHOWN.search(lines[1])
    as_json = json.loads(_notify(common, "--show", message_id, "--format", "json").stdout)
    assert [(r["title"], r["body"]) for r in as_json] == [("RED: demo", "- **markdown** body")]
    missing = _notify(common, "--show", "nope")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == "error: no outbox message with id 'nope' (`notify --list` shows them)"


def test_an_endpoint_gets_its_messages_in_order_after_an_outage(
    store: MetricStore, http_receiver: HttpReceiver
) -> None:
    routes = [RouteSpec(purpose="alerts", urls=[f"json://127.0.0.1:{http_receiver.port}/hook"])]
    policy = DeliveryPolicy(breaker_threshold=10)

    def queue(title: str, at: datetime) -> str:
        [message] = route_messages(routes, purpose="alerts", project="demo",
                                   render=lambda fmt: (title, "b"), dedup=title, now=at)
        enqueue_messages(store, [message])
        return message.message_id

    http_receiver.status = 503  # down: the RED alert fails and backs off
    red = queue("gate RED", T0)
    [first] = Notifier(store, routes, policy, clock=lambda: T0).flush([red])
    assert first.status == "pending"
    http_receiver.status = 200  # up again before RED's next attempt; then the gate goes GREEN
    later = T0 + timedelta(seconds=5)
    green = queue("gate GREEN", later)
    # a run sends its own alerts at once: GREEN waits behind RED, never arrives before it
    [waiting] = Notifier(store, routes, policy, clock=lambda: later).flush([green])
    assert (waiting.message_id, waiting.ok, waiting.status) == (green, False, "skipped")
    assert waiting.error == "waiting behind an earlier message to this endpoint"
    assert Notifier(store, routes, policy, clock=lambda: later).flush() == []  # RED not due yet
    # and the outbox says so: GREEN's next attempt is not before RED's
    shown = {r["title"]: r["next_attempt_at"] for r in list_outbox(store).to_dicts()}
    assert shown["gate GREEN"] == shown["gate RED"] > later
    assert [r.json()["title"] for r in http_receiver.requests] == []
    due = T0 + timedelta(hours=1)
    outcomes = Notifier(store, routes, policy, clock=lambda: due).flush()
    assert [o.status for o in outcomes] == ["delivered", "delivered"]
    assert [r.json()["title"] for r in http_receiver.requests] == ["gate RED", "gate GREEN"]


def test_a_message_names_the_url_it_went_to_after_its_route_changed(
    store: MetricStore, http_receiver: HttpReceiver
) -> None:
    old = [RouteSpec(purpose="alerts", urls=["json://127.0.0.1:9/hook"])]  # nothing listens there
    [message] = route_messages(old, purpose="alerts", project="demo", render=lambda fmt: ("t", "b"),
                               dedup="m1", now=T0)
    enqueue_messages(store, [message])
    new = [RouteSpec(purpose="alerts", urls=[f"json://127.0.0.1:{http_receiver.port}/hook"])]
    [outcome] = Notifier(store, new, DeliveryPolicy(), clock=lambda: T0).flush()
    assert outcome.ok and f":{http_receiver.port}/hook" in outcome.endpoint
    assert len(http_receiver.requests) == 1
    [row] = list_outbox(store).to_dicts()
    assert row["endpoint"] == outcome.endpoint
