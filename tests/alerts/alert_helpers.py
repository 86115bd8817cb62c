"""Helpers of the alert tests: run maker, loopback HTTP and SMTP receivers (fixtures in conftest),
and the command line of this area."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click
from aiosmtpd.controller import Controller
from click.testing import CliRunner, Result

from flext_quality.cli import alert_cmds
from flext_quality.cli.common import FlextGroup
from storage import FindingRecord, MetricSpec, MetricStore, RunRecord, RunResult, ToolRunRecord

T0 = datetime(2026, 3, 2, 8, 0)  # a Monday

CATALOGUE = [
    MetricSpec("quality.score", "points", "aim_high", "mean", "Composite score", "flext"),
    MetricSpec("ruff.issues", "count", "aim_low", "sum", "ruff issues", "ruff"),
    MetricSpec("bandit.issues.high", "count", "aim_low", "sum", "high bandit issues", "bandit"),
    MetricSpec("coverage.line_percent", "percent", "aim_high", "mean", "line coverage", "coverage"),
]


def free_port() -> int:
    """A free loopback port (aiosmtpd cannot bind port 0 itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunMaker:
    """Appends runs with chosen measures, one hour apart by default."""

    store: MetricStore
    project: str = "demo"
    count: int = 0

    def __call__(
        self,
        measures: dict[str, float],
        *,
        at: datetime | None = None,
        project: str | None = None,
        findings: list[FindingRecord] | None = None,
        author: str = "Ada Lovelace",
        message: str = "change things",
    ) -> str:
        self.count += 1
        when = at or T0 + timedelta(hours=self.count)
        name = project or self.project
        run_id = f"{name}-run-{self.count:03d}"
        result = RunResult(
            RunRecord(run_id, name, when, when + timedelta(seconds=5), "succeeded",
                      commit_sha=f"{self.count:03d}abcdef0123456789", committed_at=when,
                      author=author, message=message),
            tools=[ToolRunRecord(t, "succeeded") for t in ("ruff", "bandit")],
            measures=measures, findings=findings or [], catalogue=CATALOGUE,
        )
        return self.store.append_run(result)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A loopback HTTP server that records requests; ``status`` 0 makes it hang up."""

    port: int
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    reply: bytes = b"ok"

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class SmtpSink:
    port: int
    messages: list[tuple[str, list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 OK"

    def url(self, **query: str) -> str:
        params = {"from": "alerts@example.com", "to": "ops@example.com", "name": "Quality"}
        params.update(query)
        text = "&".join(f"{k}={v}" for k, v in params.items())
        return f"mailto://127.0.0.1:{self.port}/?{text}"


def start_http(receiver: HttpReceiver) -> ThreadingHTTPServer:
    """Serve ``receiver`` on loopback (its port, or a free one when 0) in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if receiver.status == 200:
                receiver.requests.append(Received(self.path, dict(self.headers), body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", str(len(receiver.reply)))
            self.end_headers()
            self.wfile.write(receiver.reply)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    receiver.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_smtp(sink: SmtpSink) -> Controller:
    """Serve ``sink`` as an SMTP server on loopback."""
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    return controller


def invoke_cli(*args: str) -> Result:
    """Run this area's commands (check, gates, report, notify, scheduler) as the CLI does."""

    @click.group(cls=FlextGroup)
    def cli() -> None:
        """Test group with this area's commands."""

    alert_cmds.register(cli)
    return CliRunner().invoke(cli, list(args))
