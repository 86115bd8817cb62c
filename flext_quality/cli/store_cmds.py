"""Store commands: init, migrate, sql, rollup, retention, export, demo."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from flext_quality.cli.common import AppContext, common_options, pass_app
from flext_quality.config_template import CONFIG_TEMPLATE
from storage.demo import generate
from storage.errors import ConfigError
from storage.maintenance import EXPORTABLE_VIEWS, apply_retention, export_view
from storage.sandbox import run_sandboxed

__all__ = ["print_frame", "register"]


def print_frame(frame: pl.DataFrame, fmt: str, *, title: str | None = None) -> None:
    """Print a frame as a rich table, CSV or JSON (one object per row, in a list)."""
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(frame.to_dicts(), default=str, indent=2))
    else:
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            table.add_column(column, overflow="fold")
        for row in frame.iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        Console(soft_wrap=False).print(table)


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False),
                default=Path("flext-quality.toml"))
def init_cmd(path: Path, force: bool) -> None:
    """Write a commented flext-quality.toml with every setting and its default."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: pass --force to overwrite it")
    path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    click.echo(f"wrote {path}")


@click.command("migrate")
@common_options
@pass_app
def migrate_cmd(app: AppContext) -> None:
    """Create the database or upgrade it to this version's schema."""
    applied = app.store().ensure_schema()
    click.echo(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@click.command("sql")
@common_options
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
@pass_app
def sql_cmd(app: AppContext, query: str, fmt: str) -> None:
    """Run a read-only query in the SQL sandbox (views: runs, measures, findings, ...)."""
    s = app.settings
    app.store().ensure_schema()
    result = run_sandboxed(
        s.db, query, timeout_s=s.sql.timeout_s, row_limit=s.sql.row_limit,
        memory_limit=s.sql.memory_limit,
    )
    print_frame(result.frame, fmt)
    if result.truncated:
        click.echo(f"(stopped at the row limit of {result.row_limit} rows)", err=True)


@click.command("rollup")
@common_options
@click.option("--rebuild", is_flag=True, required=True, help="Recompute every rollup from raw measures.")
@pass_app
def rollup_cmd(app: AppContext, rebuild: bool) -> None:
    """Rebuild the daily, weekly and monthly rollups from the raw measures."""
    app.store().rebuild_rollups()
    click.echo("rollups rebuilt")


@click.command("retention")
@common_options
@click.option("--days", type=int, default=None, help="Override retention_days.")
@pass_app
def retention_cmd(app: AppContext, days: int | None) -> None:
    """Drop raw measures older than retention_days (only once they are in the rollups)."""
    keep = days or app.settings.retention_days
    if keep is None:
        click.echo("retention_days is not set: keeping everything")
        return
    dropped = apply_retention(app.store(), max_age_days=keep, now=datetime.now(UTC).replace(tzinfo=None))
    click.echo(f"dropped {dropped} raw measures older than {keep} days")


@click.command("export")
@common_options
@click.argument("view", type=click.Choice(EXPORTABLE_VIEWS))
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@pass_app
def export_cmd(app: AppContext, view: str, fmt: str, output: Path) -> None:
    """Export a public view to a Parquet or CSV file."""
    rows = export_view(app.store(), view, "parquet" if fmt == "parquet" else "csv", output)
    click.echo(f"wrote {rows} rows to {output}")


@click.command("demo")
@common_options
@click.option("--projects", type=int, default=8, show_default=True)
@click.option("--metrics", type=int, default=16, show_default=True)
@click.option("--days", type=int, default=365, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@pass_app
def demo_cmd(app: AppContext, projects: int, metrics: int, days: int, seed: int) -> None:
    """Add generated demo projects (deterministic) to the database."""
    data = generate(projects=projects, metrics=metrics, days=days, seed=seed,
                    end=datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    added = app.store().ingest_points(data.points, data.runs)
    click.echo(f"added {added} points for {projects} generated projects")


def register(group: click.Group) -> None:
    """Add the store commands to ``group``."""
    for command in (init_cmd, migrate_cmd, sql_cmd, rollup_cmd, retention_cmd, export_cmd, demo_cmd):
        group.add_command(command)
