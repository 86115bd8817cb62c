"""``flext-quality dashboard``: serve the Streamlit app on the configured database."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from flext_quality.cli.common import AppContext, common_options, pass_app

__all__ = ["register"]

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@click.command("dashboard")
@common_options
@click.option("--port", type=int, default=None, help="Port (default: dashboard.port, 8501).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
@pass_app
def dashboard_cmd(app: AppContext, port: int | None, address: str) -> None:
    """Serve the dashboard on the configured database (Ctrl-C stops it)."""
    settings = app.settings
    app.store().ensure_schema()
    env = dict(os.environ)
    env["FLEXT_QUALITY_DB"] = str(settings.db.resolve())
    if app.config is not None:
        env["FLEXT_QUALITY_CONFIG"] = str(app.config.resolve())
    argv = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port or settings.dashboard.port),
        "--server.address", address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]
    click.echo(f"dashboard on http://{address}:{port or settings.dashboard.port} (db {settings.db})")
    sys.stdout.flush()
    # Streamlit *replaces* this process, so a service manager's SIGTERM (or Ctrl-C) reaches
    # the server itself: a wrapper process would die and leave the server holding the port.
    os.chdir(APP.parents[1])
    os.execve(sys.executable, argv, env)  # noqa: S606 (our interpreter, fixed argv)  # nosec B606


def register(group: click.Group) -> None:
    """Add the dashboard command to ``group``."""
    group.add_command(dashboard_cmd)
