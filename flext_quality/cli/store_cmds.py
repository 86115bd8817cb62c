"""Store commands: init, migrate, sql, rollup, retention, export, demo."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import polars as pl
from rich.console import Console
from rich.table import Table

from collectors.registry import CATALOGUE
from flext_quality.cli.common import AppContext, common_options, emit, pass_app
from flext_quality.config_template import CONFIG_TEMPLATE
from flext_quality.settings import MAX_RETENTION_DAYS
from storage.demo import DEMO_METRICS, generate
from storage.errors import ConfigError, SandboxError
from storage.maintenance import EXPORTABLE_VIEWS, apply_retention, export_view
from storage.sandbox import run_sandboxed
from storage.tabular import byte_columns, csv_text, json_default, json_ready

__all__ = ["print_frame", "register"]

_EXPORT_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def print_frame(frame: pl.DataFrame, fmt: str, *, title: str | None = None) -> None:
    """Print a frame as a rich table, CSV or JSON (one object per row, in a list)."""
    if fmt == "csv":
        text = csv_text(frame)
        if text is None:
            which = ", ".join(byte_columns(frame))
            reason = f"column {which} holds raw bytes" if which else "a column type has no CSV form"
            raise SandboxError(
                f"CSV cannot hold this result ({reason}): use --format json, or turn the column "
                "into text in the query (e.g. CAST(col AS VARCHAR))"
            )
        emit(text)
    elif fmt == "json":
        rows = [json_ready(row) for row in frame.to_dicts()]
        emit(json.dumps(rows, default=json_default, indent=2, allow_nan=False) + "\n")
    else:
        table = Table(title=title, show_lines=False)
        for column in frame.columns:
            table.add_column(column, overflow="fold")
        for row in frame.iter_rows():
            table.add_row(*("" if v is None else str(v) for v in row))
        if sys.stdout.isatty():  # a terminal folds wide tables to its width
            Console(soft_wrap=False).print(table)
            return
        # A pipe or file gets them unfolded, written in pieces (see emit).
        buffer = io.StringIO()
        Console(file=buffer, soft_wrap=False, width=100_000).print(table)
        emit(buffer.getvalue())


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False),
                default=Path("flext-quality.toml"))
def init_cmd(path: Path, force: bool) -> None:
    """Write a commented flext-quality.toml with every setting and its default."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: pass --force to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CONFIG_TEMPLATE, encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error.strerror or error}") from None
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
    app.existing_store().ensure_schema()
    result = run_sandboxed(
        s.db, query, timeout_s=s.sql.timeout_s, row_limit=s.sql.row_limit,
        memory_limit=s.sql.memory_limit, max_result_mb=s.sql.max_result_mb,
    )
    print_frame(result.frame, fmt)
    if result.truncated:
        click.echo(f"(stopped at the row limit of {result.row_limit} rows)", err=True)


@click.command("rollup")
@common_options
@click.option("--rebuild", is_flag=True, required=True,
              help="Recompute every rollup from raw measures (and what retention dropped).")
@pass_app
def rollup_cmd(app: AppContext, rebuild: bool) -> None:
    """Rebuild the daily, weekly and monthly rollups from the raw measures."""
    app.existing_store().rebuild_rollups()
    click.echo("rollups rebuilt")


@click.command("retention")
@common_options
@click.option("--days", type=click.IntRange(min=1, max=MAX_RETENTION_DAYS), default=None,
              help=f"Override retention_days (1 to {MAX_RETENTION_DAYS:,}).")
@pass_app
def retention_cmd(app: AppContext, days: int | None) -> None:
    """Drop raw measures older than retention_days (only once they are in the rollups)."""
    # First, with or without a limit: "keeping everything" of a mistyped --db would hide it.
    store = app.existing_store()
    keep = days if days is not None else app.settings.retention_days
    if keep is None:
        click.echo("retention_days is not set: keeping everything")
        return
    dropped = apply_retention(store, max_age_days=keep, now=datetime.now(UTC).replace(tzinfo=None))
    click.echo(f"dropped {dropped} raw measures older than {keep} days")


@click.command("export")
@common_options
@click.argument("view", type=click.Choice(EXPORTABLE_VIEWS))
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default=None,
              help="Default: from the output file's extension (.parquet or .pq, .csv).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
@pass_app
def export_cmd(app: AppContext, view: str, fmt: str | None, output: Path) -> None:
    """Export a public view to a Parquet or CSV file (``-o -``: standard output)."""
    to_stdout = str(output) in ("-", "/dev/stdout")
    if str(output) == "-":
        if fmt is None:
            raise click.UsageError("-o - writes to standard output: pass --format parquet|csv")
        output = Path("/dev/stdout")
    by_suffix = _EXPORT_SUFFIXES.get(output.suffix.lower())
    if fmt is None and by_suffix is None:
        raise click.UsageError(
            f"cannot tell the format of {output} from its extension: pass --format parquet|csv"
        )
    if fmt is not None and by_suffix is not None and fmt != by_suffix:
        raise click.UsageError(f"--format {fmt} does not match the file name {output.name}")
    chosen = fmt or by_suffix
    rows = export_view(app.existing_store(), view, "csv" if chosen == "csv" else "parquet", output)
    # Never into the data itself when the data goes to standard output.
    click.echo(f"wrote {rows} rows to {'standard output' if to_stdout else output}", err=to_stdout)


@click.command("demo")
@common_options
@click.option("--projects", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--metrics", type=click.IntRange(1, len(DEMO_METRICS)), default=16, show_default=True)
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--top-up", is_flag=True,
              help="Add only as many projects as needed to have --projects generated ones.")
@pass_app
def demo_cmd(app: AppContext, projects: int, metrics: int, days: int, seed: int, top_up: bool) -> None:
    """Add generated demo projects (deterministic) to the database.

    New projects are numbered after the generated ones already stored, so running it again
    adds another batch. Their newest run is yesterday's.
    """
    store = app.store()
    existing = sorted(int(name[len("project-"):]) for (name,) in store.fetch(
        "SELECT DISTINCT project FROM runs WHERE regexp_full_match(project, 'project-[0-9]{4,}')"))
    if top_up:
        projects -= len(existing)
        if projects <= 0:
            click.echo(f"{len(existing)} generated projects are stored already: nothing to add")
            return
    first = existing[-1] + 1 if existing else 0
    yesterday = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(days=1)
    data = generate(projects=projects, metrics=metrics, days=days, seed=seed + first,
                    end=yesterday, first_project=first)
    store.write_catalogue([spec for spec in CATALOGUE if spec.name in set(data.points["metric"])])
    added = store.ingest_points(data.points, data.runs)
    click.echo(f"added {added} points for {projects} generated projects "
               f"(project-{first:04d} to project-{first + projects - 1:04d})")


def register(group: click.Group) -> None:
    """Add the store commands to ``group``."""
    for command in (init_cmd, migrate_cmd, sql_cmd, rollup_cmd, retention_cmd, export_cmd, demo_cmd):
        group.add_command(command)
