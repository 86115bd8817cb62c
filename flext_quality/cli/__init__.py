"""The ``flext-quality`` command line: options are parsed here, work is done by the layers."""

from __future__ import annotations

from pathlib import Path

import click

from flext_quality import __version__
from flext_quality.cli import (
    alert_cmds,
    backfill_cmds,
    collect_cmds,
    dashboard_cmds,
    store_cmds,
)
from flext_quality.cli.common import AppContext, FlextGroup

__all__ = ["main"]


@click.group(cls=FlextGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Database file (default data/quality.duckdb, or FLEXT_QUALITY_DB).")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Settings file (default FLEXT_QUALITY_CONFIG, else ./flext-quality.toml).")
@click.version_option(__version__, prog_name="flext-quality")
@click.pass_context
def main(ctx: click.Context, db: Path | None, config: Path | None) -> None:
    """Code-quality trends for Python projects: collect, backfill, gate, alert, explore."""
    app = ctx.ensure_object(AppContext)
    app.db = db or app.db
    app.config = config or app.config


for module in (store_cmds, collect_cmds, backfill_cmds, alert_cmds, dashboard_cmds):
    module.register(main)
