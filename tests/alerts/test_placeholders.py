"""Secrets with URL characters in them (``@ / # % ? &``) fill route URLs without breaking them.

A real SMTP server on loopback (aiosmtpd, with AUTH) checks the password that arrives; a real
HTTP receiver checks the webhook path; nothing of the secret shows in output or the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from alert_helpers import HttpReceiver, SmtpSink, free_port, invoke_cli

from alerts.placeholders import encode_for_position, fill_placeholders

PASSWORD = "Xy@Super/Secret#Tail%9?&"


@pytest.mark.parametrize(
    ("url", "value", "expected"),
    [
        ("mailto://user:${P}@host:25/?to=a@b.c", "p@ss/w#rd%1", "p%40ss%2Fw%23rd%251"),
        ("slack://${T}/#quality", "TA000/BB000/cccc", "TA000/BB000/cccc"),  # token parts kept
        ("json://host:9/${P}?x=1", "a/b#c?d e", "a/b%23c%3Fd%20e"),
        ("json://host:9/hook?token=${P}", "a&b=c+d", "a%26b%3Dc%2Bd"),
        ("mailto://user:${P}@host", "Summer%402026", "Summer%402026"),  # encoded by hand: kept
        ("mailto://user:${P}@host", "100%sure", "100%25sure"),  # a bare % is a character
        ("mailto://user:${P}@host", "k9%41Zx@y", "k9%2541Zx%40y"),  # not encoded by hand: a raw @
    ],
)
def test_a_value_is_encoded_for_where_it_sits(url: str, value: str, expected: str) -> None:
    assert encode_for_position(url, url.index("${"), value) == expected
    filled = fill_placeholders(url, lambda _: value)
    assert filled == url.replace(url[url.index("${"):url.index("}") + 1], expected)


class _Authenticator:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.seen.append((login, password))
        return AuthResult(success=(login, password) == ("quality", PASSWORD))


def test_a_password_with_url_characters_logs_in_and_never_shows(
    tmp_path: Path, http_receiver: HttpReceiver
) -> None:
    sink, auth = SmtpSink(port=free_port()), _Authenticator()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, authenticator=auth,
                            auth_require_tls=False)
    controller.start()
    try:
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "SMTP_PASSWORD").write_text(PASSWORD, encoding="utf-8")
        (secrets / "HOOK_PATH").write_text("hooks/Se#cret?Path", encoding="utf-8")
        config = tmp_path / "flext-quality.toml"
        config.write_text(
            f'secrets_dir = "{secrets}"\n[[routes]]\npurpose = "alerts"\nurls = [\n'
            f'  "mailto://quality:${{SMTP_PASSWORD}}@127.0.0.1:{sink.port}/?from=q@example.com&to=ops@example.com",\n'
            f'  "json://127.0.0.1:{http_receiver.port}/${{HOOK_PATH}}",\n]\n',
            encoding="utf-8",
        )
        db = tmp_path / "q.duckdb"
        result = invoke_cli("notify", "--test", "alerts", "--db", str(db), "--config", str(config))
    finally:
        controller.stop()
    assert result.exit_code == 0, result.output
    assert auth.seen == [("quality", PASSWORD)]  # the password arrived whole
    assert len(sink.messages) == 1
    assert [r.path for r in http_receiver.requests] == ["/hooks/Se%23cret%3FPath"]
    con = duckdb.connect(str(db), read_only=True)
    stored = repr(con.execute("SELECT * FROM outbox").fetchall())
    con.close()
    for shown in (result.output, stored):
        for fragment in ("Super", "Tail", "Se#cret", "Se%23cret", "cret?Path"):
            assert fragment not in shown, (fragment, shown)
