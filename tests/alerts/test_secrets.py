"""No secret of a notification URL leaks: not in logs (DEBUG), CLI output, the database or reports."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import click
import duckdb
import pytest
from alert_helpers import T0, HttpReceiver, RunMaker, free_port
from apprise.plugins.slack import NotifySlack
from click.testing import CliRunner

from alerts.masking import SecretMaskingFilter, mask_text, mask_url, secret_parts
from flext_quality.cli import alert_cmds
from flext_quality.cli.common import FlextGroup
from storage.store import MetricStore

SECRETS = ["SuperSecretPw1", "TopSecretToken99", "TSECRETAAA", "BSECRETBBB",
           "SECRETCCCCCCCCCCCCCCCCCC", "MailPass77x"]


def _cli() -> click.Group:
    @click.group(cls=FlextGroup)
    def cli() -> None:
        """Test group with this area's commands."""

    alert_cmds.register(cli)
    return cli


def _all_strings(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        chunks: list[str] = []
        tables = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type = 'VARCHAR' AND table_schema = 'main'"
        ).fetchall()
        for table, column in tables:
            rows = con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
            chunks.extend(str(r[0]) for r in rows if r[0] is not None)
        return "\n".join(chunks)
    finally:
        con.close()


def test_no_secret_anywhere(
    store: MetricStore, make_run: RunMaker, http_receiver: HttpReceiver, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    http_receiver.status = 500  # every delivery fails
    monkeypatch.setattr(NotifySlack, "webhook_url", http_receiver.url("/services"))
    monkeypatch.setenv("HOOK_TOKEN", "TopSecretToken99")
    closed_port = free_port()
    config = tmp_path / "flext-quality.toml"
    config.write_text(f"""
log_level = "DEBUG"
[notify]
breaker_threshold = 5
backoff_base_s = 1

[[gates]]
metric = "bandit.issues.high"
max = 0

[[routes]]
purpose = "alerts"
urls = [
  "json://hookuser:SuperSecretPw1@127.0.0.1:{http_receiver.port}/hook?+X-Token=${{HOOK_TOKEN}}",
  "slack://TSECRETAAA/BSECRETBBB/SECRETCCCCCCCCCCCCCCCCCC/#alerts",
  "mailto://mailer:MailPass77x@127.0.0.1:{closed_port}/?from=a@example.com&to=b@example.com",
]

[[routes]]
purpose = "reports"
urls = ["json://hookuser:SuperSecretPw1@127.0.0.1:{http_receiver.port}/report"]
""", encoding="utf-8")
    make_run({"bandit.issues.high": 0}, at=T0)
    make_run({"bandit.issues.high": 4}, at=T0 + timedelta(hours=1))
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    base = ["--db", str(store.path), "--config", str(config)]
    outputs = []
    for args in (["check", "--no-collect", "--project", "demo"],
                 ["check", "--no-collect", "--project", "demo", "--format", "json"],
                 ["notify", "--flush"], ["notify", "--list"], ["notify", "--list", "--format", "json"],
                 ["notify", "--test", "alerts"], ["report", "--send"],
                 ["report", "--format", "markdown"], ["report", "--format", "html"],
                 ["report", "--format", "json"], ["gates"]):
        result = runner.invoke(_cli(), [*args, *base])
        outputs.append(result.output + (result.stderr if result.stderr_bytes else ""))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    text = "\n".join(outputs)
    # the failures really happened and were reported (masked)
    assert "pending" in text and "****" in text
    assert http_receiver.requests == []
    con = duckdb.connect(str(store.path))
    con.execute("CHECKPOINT")
    con.close()
    stored = _all_strings(store.path)
    assert "500" in stored or "refused" in stored.lower()  # errors were stored
    raw = store.path.read_bytes()
    logs = caplog.text
    assert "DEBUG" in logs or any(r.levelno == logging.DEBUG for r in caplog.records)
    for secret in SECRETS:
        assert secret not in text, f"{secret} in CLI output"
        assert secret not in logs, f"{secret} in logs"
        assert secret not in stored, f"{secret} in the database"
        assert secret.encode() not in raw, f"{secret} in the database file"


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("json://u:pa55word99@host/p", "pa55word99"),
        ("json://host/p?+Authorization=Bearer-abcdef123", "Bearer-abcdef123"),
        ("slack://TAAAAAAAA/BBBBBBBBB/cccccccccccccccccccccccc/#c", "cccccccccccccccccccccccc"),
        ("mailtos://me:MyMailPw!@smtp.example.com?to=x@example.com", "MyMailPw!"),
        ("discord://123456789/wEbHoOkToKeN12345", "wEbHoOkToKeN12345"),
    ],
)
def test_mask_url_and_text(url: str, secret: str) -> None:
    masked = mask_url(url)
    assert secret not in masked
    assert masked.split("://")[0] == url.split("://")[0]
    error = f"POST to {url} failed: token {secret} rejected"
    assert secret not in mask_text(error, secret_parts(url))


def test_logging_filter_masks_args_and_exceptions() -> None:
    url = "json://u:FilterSecret42@host/p"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sending to %s", (url,), None)
    try:
        raise RuntimeError(f"cannot reach {url}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    SecretMaskingFilter(secret_parts(url)).filter(record)
    rendered = logging.Formatter().format(record)
    assert "FilterSecret42" not in rendered
    assert "cannot reach" in rendered and "sending to" in rendered
