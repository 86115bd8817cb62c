"""What every command shares: the ``--db``/``--config`` options, settings, and error handling.

Library code raises typed errors; here they become one clear line on stderr and exit code 1
(click's own usage errors keep exit code 2).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from flext_quality.settings import Settings, load_settings
from storage.errors import FlextQualityError, StoreError
from storage.store import MetricStore

__all__ = ["AppContext", "FlextGroup", "common_options", "pass_app"]

F = TypeVar("F", bound=Callable[..., Any])


class AppContext:
    """Settings and store, built once per command from the global and per-command flags."""

    def __init__(self) -> None:
        self.config: Path | None = None
        self.db: Path | None = None
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """Settings from every source, with ``--db`` on top."""
        if self._settings is None:
            self._settings = load_settings(self.config, {"db": self.db})
            logging.basicConfig(
                level=self._settings.log_level, format="%(levelname)s %(name)s: %(message)s"
            )
        return self._settings

    def store(self) -> MetricStore:
        """The metric store named by the settings."""
        s = self.settings
        return MetricStore(s.db, write_timeout_s=s.write_timeout_s)

    def existing_store(self) -> MetricStore:
        """The store, which must exist: commands that read never create a database.

        (A mistyped ``--db`` would otherwise answer from a new, empty file and leave it behind.)
        """
        store = self.store()
        if not store.path.exists():
            raise StoreError(
                f"no database at {store.path}: check --db / FLEXT_QUALITY_DB, or create it with "
                "`flext-quality collect`, `backfill` or `migrate`"
            )
        return store


class FlextGroup(click.Group):
    """A click group that turns our errors into one line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlextQualityError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _set_db(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).db = value


def _set_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(AppContext).config = value


def common_options(func: F) -> F:
    """Add ``--db`` and ``--config`` to a command (they also work before the command name)."""
    func = click.option(
        "--db", type=click.Path(path_type=Path, dir_okay=False), expose_value=False,
        callback=_set_db, is_eager=True, help="Database file (default data/quality.duckdb).",
    )(func)
    return click.option(
        "--config", type=click.Path(path_type=Path, dir_okay=False), expose_value=False,
        callback=_set_config, is_eager=True, help="Settings file (default ./flext-quality.toml).",
    )(func)


def pass_app(func: F) -> F:
    """Pass the :class:`AppContext` as the first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return ctx.invoke(func, ctx.ensure_object(AppContext), *args, **kwargs)

    return wrapper  # type: ignore[return-value]
