"""A value filled from a ``${NAME}`` placeholder is a secret wherever it sits in the URL.

The user's walkthrough: a webhook path from the secrets directory (``json://host/${HOOK_PATH}``)
was shown in command output, WARNING lines, Apprise's and urllib3's DEBUG lines and stored in
``outbox.endpoint``, because Apprise's privacy form shows a webhook path. And a bad route URL
gave Apprise's ERROR lines (parts of the URL, a password's first and last characters) before
our one error line. Everything here runs for real: settings from a TOML file and a secrets
directory, the command line, a loopback HTTP receiver, a DuckDB file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from alert_helpers import T0, HttpReceiver, RunMaker, free_port, invoke_cli

from alerts.masking import mask_text, mask_url, register_secret
from flext_quality.settings import load_settings
from storage.store import MetricStore

HOOK_PATH = "hookpath-TOPSECRET-42"
SMTP_PASSWORD = "SmtpPass-TOPSECRET-7"


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A secrets directory with HOOK_PATH and SMTP_PASSWORD, as Docker mounts them."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "HOOK_PATH").write_text(HOOK_PATH + "\n", encoding="utf-8")
    (folder / "SMTP_PASSWORD").write_text(SMTP_PASSWORD + "\n", encoding="utf-8")
    monkeypatch.setenv("FLEXT_QUALITY_SECRETS_DIR", str(folder))
    return folder


def _leaks(text: str) -> list[str]:
    """The secrets found in ``text``, in any case (Apprise lower-cases host names)."""
    return [s for s in (HOOK_PATH, SMTP_PASSWORD) if s.lower() in text.lower()]


def _database_text(db: Path) -> str:
    con = duckdb.connect(str(db))
    try:
        con.execute("CHECKPOINT")
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        return "\n".join(
            str(value)
            for table, column in columns
            for (value,) in con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
            if value is not None
        )
    finally:
        con.close()


def test_a_placeholder_in_a_webhook_path_never_shows(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver, tmp_path: Path,
    secrets_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    closed = free_port()  # nothing listens: every delivery there fails and logs a WARNING line
    config = tmp_path / "flext-quality.toml"
    config.write_text(f"""
log_level = "DEBUG"
[[gates]]
metric = "bandit.issues.high"
max = 0

[[routes]]
purpose = "alerts"
name = "hook-alerts"
urls = ["json://127.0.0.1:{http_receiver.port}/${{HOOK_PATH}}",
        "json://127.0.0.1:{closed}/${{HOOK_PATH}}"]

[[routes]]
purpose = "reports"
urls = ["json://127.0.0.1:{http_receiver.port}/${{HOOK_PATH}}"]
""", encoding="utf-8")
    make_run({"bandit.issues.high": 0}, at=T0)
    make_run({"bandit.issues.high": 3}, at=T0 + timedelta(hours=1))
    caplog.set_level(logging.DEBUG)
    common = ["--db", str(store.path), "--config", str(config)]
    outputs = []
    for args in (["check", "--no-collect", "--project", "demo"], ["notify", "--test", "alerts"],
                 ["report", "--send"], ["notify", "--flush"], ["notify", "--list"],
                 ["notify", "--list", "--format", "csv"], ["notify", "--list", "--format", "json"],
                 ["notify", "--test", "alerts", "--format", "json"]):
        result = invoke_cli(*args, *common)
        outputs.append(result.output + result.stderr)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output

    # The secret was really used: the receiver got the alert, the tests and the report on it.
    assert {r.path for r in http_receiver.requests} == {f"/{HOOK_PATH}"}
    assert len(http_receiver.requests) >= 4
    shown = "\n".join(outputs)
    assert "delivered hook-alerts json://127.0.0.1:" in shown and "failed    hook-alerts" in shown
    assert _leaks(shown) == [], shown
    # Every logger at every level: ours (the WARNING line), Apprise's and urllib3's DEBUG lines.
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"alerts", "apprise", "urllib3"} <= names, names
    assert any("outbox: delivery to" in r.getMessage() for r in caplog.records)
    assert _leaks("\n".join(r.getMessage() for r in caplog.records)) == []
    assert _leaks(caplog.text) == []
    # The database: the outbox endpoint is stored masked, and no column of any table has it.
    stored = _database_text(store.path)
    assert "json://127.0.0.1:" in stored and _leaks(stored) == []
    assert HOOK_PATH.encode() not in store.path.read_bytes()


def test_mistyped_scheme_is_one_masked_line_from_the_command(tmp_path: Path, secrets_dir: Path) -> None:
    """As the person sees it: a real process, its whole stderr, logging configured by the CLI."""
    config = tmp_path / "flext-quality.toml"
    config.write_text('log_level = "DEBUG"\n[[routes]]\npurpose = "alerts"\n'
                      'urls = ["json://127.0.0.1:9/ok", "slak://${HOOK_PATH}/T1JJ3T3L2/A1BRTD4JD"]\n',
                      encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "flext_quality", "notify", "--test", "alerts",
         "--db", str(tmp_path / "q.duckdb"), "--config", str(config)],
        capture_output=True, text=True, env={**os.environ, "FLEXT_QUALITY_SECRETS_DIR": str(secrets_dir)},
        timeout=60, check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: invalid setting routes.0.urls.1='slak://****@****/****': not a URL Apprise "
        "supports (see https://github.com/caronc/apprise/wiki)"
    ]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("slak://${HOOK_PATH}/T1JJ3T3L2/A1BRTD4JD", "not a URL Apprise supports"),
        ("notaservice://foo/bar", "not a URL Apprise supports"),
        ("mailtoo://quality:${SMTP_PASSWORD}@mail.example.com?to=team@example.com",
         "not a URL Apprise supports"),
        ("hello world", "a URL cannot contain spaces"),
        ("json://127.0.0.1:9/${HOOK_PATH} json://127.0.0.1:9/other", "a URL cannot contain spaces"),
        ("json://127.0.0.1:9/${HOOK_PATH},json://127.0.0.1:9/other", "more than one URL"),
    ],
)
def test_a_bad_route_url_is_one_error_and_apprise_logs_nothing(
    url: str, problem: str, tmp_path: Path, secrets_dir: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    config = tmp_path / "flext-quality.toml"
    config.write_text(f'log_level = "DEBUG"\n[[routes]]\npurpose = "reports"\nurls = ["json://127.0.0.1:9/a"]\n'
                      f'[[routes]]\npurpose = "alerts"\nurls = ["{url}"]\n', encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    result = invoke_cli("notify", "--test", "alerts", "--db", str(tmp_path / "q.duckdb"),
                        "--config", str(config))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: invalid setting routes.1.urls.0='"), lines
    assert problem in lines[0]
    assert _leaks(lines[0]) == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("apprise")] == []
    assert _leaks(caplog.text) == []


def test_a_secret_is_masked_in_any_case_and_quoting() -> None:
    secret = "Filled-Secret/Value 99"
    register_secret(secret)
    for text in (secret, secret.lower(), secret.upper(), "Filled-Secret%2FValue%2099",
                 "filled-secret%2fvalue%2099", "Filled-Secret%2FValue+99"):
        assert mask_text(f"POST {text} failed", ()) == "POST **** failed", text
    # A mistyped scheme: the fallback form took the host name lower-cased, past the masking.
    shown = mask_url("slak://Host-Filled-Secret-1/abcd")
    assert shown.startswith("slak://") and "secret" not in shown.lower(), shown


def test_apprise_abbreviations_of_a_placeholder_value_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_TOKEN_T", "TQUALITY7/BQUALITY8/cqualitytoken0123456789z")
    config = tmp_path / "flext-quality.toml"
    config.write_text('[[routes]]\npurpose = "alerts"\nurls = ["slack://${SLACK_TOKEN_T}/#quality"]\n',
                      encoding="utf-8")
    settings = load_settings(config)
    shown = mask_url(settings.routes[0].urls[0])
    # Apprise's privacy form would be slack://T...7/B...8/c...z/%23quality/?...
    assert shown.startswith("slack://****/****/****/%23quality/"), shown
    assert "..." not in shown
