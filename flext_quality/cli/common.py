"""What every command shares: the ``--db``/``--config`` options, settings, error handling,
``--tools``, and what Ctrl-C and SIGTERM do while analyzers run.

Library code raises typed errors; here they become one clear line on stderr and exit code 1
(click's own usage errors keep exit code 2).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
import duckdb

from collectors.registry import TOOL_NAMES
from collectors.runner import allow_processes, kill_all_processes
from flext_quality.settings import Settings, load_settings
from storage.errors import FlextQualityError, StoreError
from storage.store import MetricStore

__all__ = [
    "AppContext",
    "FlextGroup",
    "ProjectPath",
    "analyzers_stop_on_signals",
    "common_options",
    "emit",
    "parse_tools",
    "pass_app",
    "plural",
]

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
        except duckdb.Error as error:
            if "KeyboardInterrupt" not in str(error):
                raise
            # Ctrl-C while DuckDB read our data (storing a run): it wraps the interrupt in its own
            # error, after rolling the transaction back. Nothing was stored.
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except OSError as error:
            if not _broken_pipe(error):
                # Output that cannot be written (a full disk, `> /dev/full`), or a file error a
                # layer did not word: one line, not a traceback.
                where = f" ({error.filename})" if error.filename else ""
                click.echo(f"error: cannot write or read: {error.strerror or error}{where}", err=True)
                ctx.exit(1)
            # The reader of our output went away (`| head`): what was to be stored is stored;
            # stop quietly with the exit status of a process ended by SIGPIPE, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(128 + signal.SIGPIPE)


def _broken_pipe(error: OSError) -> bool:
    # BrokenPipeError from Python's own writes; polars (Rust) raises a plain OSError whose
    # errno is not set, only its text: "Broken pipe (os error 32)".
    return error.errno == errno.EPIPE or (error.errno is None and f"(os error {errno.EPIPE})" in str(error))


_CHUNK = 1 << 16


def emit(text: str) -> None:
    """Write ``text`` to stdout in pieces, so that a reader going away is noticed.

    One large write to a pipe whose reader has gone (``| head -1``) can end without an error
    in CPython: the rest of the output is lost silently and the command exits 0. Writing in
    pieces of a pipe's size raises ``BrokenPipeError`` instead (exit 141 above).
    """
    out = sys.stdout
    if out is None:  # started with standard output closed (`>&-`)
        raise FlextQualityError("standard output is closed: there is nowhere to print the result")
    for start in range(0, len(text), _CHUNK):
        out.write(text[start : start + _CHUNK])
    out.flush()


class ProjectPath(click.Path):
    """A project folder argument: any path (the command checks it, with one line), but not an
    empty one, which would quietly mean the current folder (``collect "$UNSET"``)."""

    def __init__(self) -> None:
        super().__init__(path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("an empty path: name the project folder (. for the current one)", param, ctx)
        return super().convert(value, param, ctx)


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
        callback=_set_config, is_eager=True,
        help="Settings file (default FLEXT_QUALITY_CONFIG, else ./flext-quality.toml).",
    )(func)


def pass_app(func: F) -> F:
    """Pass the :class:`AppContext` as the first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return ctx.invoke(func, ctx.ensure_object(AppContext), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def plural(count: int, noun: str) -> str:
    """``1 commit``, ``2 commits``."""
    return f"{count} {noun if count == 1 else noun + 's'}"


def parse_tools(value: str | None, default: Sequence[str]) -> list[str]:
    """The analyzers named by ``--tools`` (``default`` without the option), each once.

    An empty list is a usage error, not "all tools": ``--tools "$TOOLS"`` with an unset
    variable must not quietly run everything.
    """
    if value is None:
        return list(default)
    tools = list(dict.fromkeys(t.strip() for t in value.split(",") if t.strip()))
    unknown = [t for t in tools if t not in TOOL_NAMES]
    allowed = f"(allowed: {', '.join(TOOL_NAMES)})"
    if unknown:
        raise click.BadParameter(f"unknown analyzer {unknown[0]!r} {allowed}", param_hint="--tools")
    if not tools:
        raise click.BadParameter(f"no analyzer named {allowed}", param_hint="--tools")
    return tools


@contextmanager
def analyzers_stop_on_signals(*, sigterm_interrupts: bool) -> Iterator[None]:
    """Ctrl-C (and SIGTERM) stop the command at once, killing the running analyzers.

    Analyzers run in process groups of their own (so that a timeout kills a tool's whole
    tree), which a terminal's Ctrl-C does not reach and SIGTERM, sent to us, does not either:
    without this the command waits for every running analyzer to finish, up to
    ``collect.timeout_s``, or leaves them running. On either signal every analyzer's group is
    killed and no new one starts; then Ctrl-C raises :class:`KeyboardInterrupt` as usual
    (what is stored stays stored), and SIGTERM does the same when ``sigterm_interrupts``, else
    ends the process by SIGTERM as it would have without this handler. A Ctrl-C that was
    ignored when the command started (a job started with ``&``) stays ignored.
    """

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        kill_all_processes()
        raise KeyboardInterrupt

    def terminate(signum: int, frame: FrameType | None) -> None:
        kill_all_processes()
        before = previous[signal.SIGTERM]
        if callable(before):
            before(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    previous = {
        signal.SIGINT: signal.getsignal(signal.SIGINT),
        signal.SIGTERM: signal.getsignal(signal.SIGTERM),
    }
    if previous[signal.SIGINT] is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, interrupt)
    if sigterm_interrupts:
        signal.signal(signal.SIGTERM, interrupt)
    elif previous[signal.SIGTERM] is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: not set from Python, nothing to put back
                signal.signal(number, handler)
        allow_processes()
