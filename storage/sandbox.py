"""The read-only SQL sandbox behind the dashboard's SQL page and ``flext-quality sql``.

Three independent walls, so that a gap in one is caught by the next:

1. **One read statement.** The text is split with DuckDB's own parser; exactly one statement
   of an allowed kind (``SELECT`` in any of its forms - ``WITH``, ``FROM``-first, ``VALUES``,
   ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``, ``PIVOT`` - or ``EXPLAIN``) may run. ``COPY``, ``ATTACH``,
   ``SET``, ``PRAGMA``, ``INSTALL``, ``CREATE``, ``INSERT`` and the rest are refused before
   anything executes, with the statement kind in the message.
2. **A locked, file-less instance.** Each query gets its own in-memory DuckDB instance that
   attaches the database file ``READ_ONLY``, then disables external access (no files, no
   network, no extensions, no spill folder) and locks its configuration, so that table functions such as
   ``read_csv`` or ``glob`` inside a ``SELECT`` fail and no statement can undo a setting.
3. **Bounds.** A time limit (``interrupt`` from a timer; the connection stays usable), a row
   cap (the result is cut at ``row_limit`` rows and flagged ``truncated``), a size cap (the
   result is read in small Arrow record batches and stopped once they hold more than
   ``max_result_mb``), a memory limit and two threads. The time limit runs until the last batch
   is read: DuckDB computes a streamed result while it is read. Nothing a query creates
   outlives its instance.

The size cap bounds what the result holds in this process. DuckDB's own working set is bounded
by ``memory_limit`` only partly: the values of one vector (2,048 rows) in flight, such as long
strings made by ``repeat``, are not counted there.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from storage.connection import retry_while_locked
from storage.errors import SandboxError

__all__ = [
    "ALLOWED_STATEMENTS",
    "PUBLIC_VIEW_NAMES",
    "SandboxResult",
    "check_statement",
    "run_sandboxed",
]

PUBLIC_VIEW_NAMES: tuple[str, ...] = (
    "runs",
    "tool_runs",
    "measures",
    "findings",
    "metrics",
    "measures_daily",
    "measures_weekly",
    "measures_monthly",
)

# Statement kinds (duckdb.StatementType names) that only read. DESCRIBE, SHOW, SUMMARIZE,
# VALUES and FROM-first queries all parse as SELECT.
ALLOWED_STATEMENTS: frozenset[str] = frozenset({"SELECT", "EXPLAIN"})

# Rows per Arrow record batch. Small, so that the size cap stops a result of long values soon
# after the cap (a batch is the most it overshoots) yet 10,000 ordinary rows take ~40 batches.
_BATCH_ROWS = 256
_MB = 1_000_000  # as DuckDB's memory_limit counts 'MB'


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """Rows of a sandboxed query; ``truncated`` when the row cap cut it short."""

    frame: pl.DataFrame
    truncated: bool
    row_limit: int
    elapsed_s: float = 0.0


def check_statement(sql: str) -> str:
    """Return the single read statement in ``sql``; raise :class:`SandboxError` otherwise."""
    if not sql.strip():
        raise SandboxError("empty query: write one SELECT statement")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        text = _first_line(error)
        if "max expression depth" in text.lower():
            # DuckDB's hint (SET max_expression_depth) is refused here: say what to do instead.
            raise SandboxError("query too deeply nested: DuckDB parses at most 1,000 nested "
                               "expressions; flatten it (the sandbox cannot raise the limit)") from None
        raise SandboxError(f"syntax error: {text}") from None
    if not statements:
        raise SandboxError("empty query: write one SELECT statement")
    if len(statements) > 1:
        raise SandboxError(
            f"refused: {len(statements)} statements given; the sandbox runs exactly one "
            "SELECT at a time (remove the extra ';')"
        )
    kind = statements[0].type.name
    words = statements[0].query.upper().split()[:2]
    if kind == "LOAD" and "INSTALL" in words:
        kind = "INSTALL"  # DuckDB files INSTALL (and FORCE INSTALL) under LOAD
    elif kind == "SET" and words and words[0] in ("USE", "RESET"):
        kind = words[0]  # and USE and RESET under SET
    if kind == "MULTI" and _pivots(statements[0].query):
        # A PIVOT without an IN list: DuckDB first reads the distinct values (a second,
        # internal statement), then the SELECT; both only read.
        kind = "SELECT"
    if kind not in ALLOWED_STATEMENTS:
        raise SandboxError(
            f"refused: {kind} statements are not allowed; the sandbox is read-only and runs "
            "only SELECT (also WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT) and EXPLAIN"
        )
    return _without_final_semicolons(sql)


def _pivots(sql: str) -> bool:
    """Whether ``sql`` uses PIVOT (a keyword token, not a name or a string)."""
    return any(
        kind == duckdb.token_type.keyword and sql[pos : pos + 5].upper() == "PIVOT"
        for pos, kind in duckdb.tokenize(sql)
    )


def _without_final_semicolons(sql: str) -> str:
    """``sql`` cut before its closing ``;`` (and any comment after it).

    The one statement is run as a relation, which DuckDB wraps in more SQL (the row cap): a
    ``;`` followed by a comment would end up inside that and fail to parse.
    """
    tokens = [(pos, kind) for pos, kind in duckdb.tokenize(sql) if kind != duckdb.token_type.comment]
    while tokens and tokens[-1][1] == duckdb.token_type.operator and sql[tokens[-1][0]] == ";":
        sql = sql[: tokens.pop()[0]]
    return sql


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _open(db_path: Path, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET threads = 2")
        con.execute("SET enable_progress_bar = false")
        # No spill folder: DuckDB would create one (".tmp" in the working directory) and add it
        # to the directories its file readers may still open; a query over the memory limit
        # stops instead. And no extension is installed or loaded behind a query's back.
        con.execute("SET temp_directory = ''")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute(f"ATTACH '{str(db_path).replace(chr(39), chr(39) * 2)}' AS db (READ_ONLY)")
        con.execute("USE db")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except duckdb.Error:
        con.close()
        raise
    return con


def _open_retrying(db_path: Path, memory_limit: str, busy_timeout_s: float) -> duckdb.DuckDBPyConnection:
    # A writer (collector, scheduler) holds the file only for one transaction: wait it out.
    try:
        return retry_while_locked(
            lambda: _open(db_path, memory_limit), db_path, timeout_s=busy_timeout_s
        )
    except duckdb.Error as error:
        raise SandboxError(f"cannot open {db_path} read-only: {_first_line(error)}") from error


def _timed_out(timeout_s: float) -> str:
    return f"query stopped: it ran longer than the time limit of {timeout_s:g}s"


def _too_large(max_result_mb: float) -> str:
    return (
        f"query stopped: the result is larger than {max_result_mb:g} MB (sql.max_result_mb): "
        "select fewer rows or columns, or aggregate in the query"
    )


def _friendly(error: BaseException, max_result_mb: float) -> str:
    text = _first_line(error)
    lowered = text.lower()
    if "interrupt" in lowered:
        return "query stopped: it ran longer than the time limit"
    if "arrow appender" in lowered and "string size" in lowered:
        # One batch's strings passed Arrow's 2 GiB: far past any allowed size cap.
        return _too_large(max_result_mb)
    if "read-only" in lowered or "read only" in lowered:
        # A write the statement check cannot see, such as WITH x AS (DELETE ... RETURNING *),
        # reaches the read-only attachment, whose message names the outer SELECT.
        return (
            "refused: the sandbox only reads; this query would change the database "
            "(INSERT, UPDATE or DELETE, also inside WITH), and writes are refused"
        )
    if "extension" in lowered and ("not in the catalog" in lowered or "install" in lowered):
        return f"refused: the SQL sandbox loads no extensions ({text})"
    if "external access" in lowered or "lock_configuration" in lowered or "configuration" in lowered:
        return f"refused: the SQL sandbox allows no file, network, extension or settings access ({text})"
    if "out of memory" in lowered or "memory" in lowered:
        return f"query stopped: it needed more memory than the sandbox allows ({text})"
    return text


# Types polars cannot take from DuckDB as they are (anywhere in a column's type, also nested):
# VARIANT arrives as raw binary structs, INTERVAL and UNION make the conversion fail.
_OPAQUE_TYPES = ("VARIANT", "INTERVAL", "UNION(")


def _as_text_where_opaque(relation: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """Columns of a type polars cannot hold, as their text (what DuckDB's own shell shows)."""
    types = [str(t) for t in relation.types]
    opaque = [any(word in kind for word in _OPAQUE_TYPES) for kind in types]
    if not any(opaque):
        return relation
    columns = []
    for name, as_text in zip(relation.columns, opaque, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        columns.append(f"CAST({quoted} AS VARCHAR) AS {quoted}" if as_text else quoted)
    return relation.project(", ".join(columns))


def _fetch(
    relation: duckdb.DuckDBPyRelation, *, max_result_mb: float, timeout_s: float, expired: threading.Event
) -> pl.DataFrame:
    """The relation's rows, read batch by batch; :class:`SandboxError` once they pass ``max_result_mb``.

    The query runs while the batches are read, so the timer's interrupt can stop it here; between
    batches ``expired`` is checked, in case the timer fired while no DuckDB code was running.
    """
    max_bytes = int(max_result_mb * _MB)
    batches: list[pa.RecordBatch] = []
    size = 0
    with relation.to_arrow_reader(batch_size=_BATCH_ROWS) as reader:
        schema = reader.schema
        for batch in reader:
            if expired.is_set():
                raise SandboxError(_timed_out(timeout_s))
            size += batch.nbytes
            if size > max_bytes:
                raise SandboxError(_too_large(max_result_mb))
            batches.append(batch)
    # One contiguous copy first: a frame made of many small batches takes ~1.7 times its size
    # more to pickle, which the dashboard's cache does with every result.
    table = pa.Table.from_batches(batches, schema=schema).combine_chunks()
    del batches
    return pl.DataFrame(table)


def run_sandboxed(
    db_path: Path,
    sql: str,
    *,
    timeout_s: float = 10.0,
    row_limit: int = 10_000,
    memory_limit: str = "1GB",
    max_result_mb: float = 100.0,
    busy_timeout_s: float = 10.0,
) -> SandboxResult:
    """Run one user query in the sandbox; raise :class:`SandboxError` with a readable reason.

    The result holds at most ``row_limit`` rows (``truncated`` says when more were cut) and
    at most ``max_result_mb`` megabytes (a larger one is an error, not a cut: which part to keep
    is the query's choice). While a writer holds the file the sandbox retries for up to
    ``busy_timeout_s``, then raises :class:`DatabaseBusyError`.
    """
    sql = check_statement(sql)
    if not db_path.exists():
        raise SandboxError(f"no database at {db_path}: collect or backfill first")
    con = _open_retrying(db_path, memory_limit, busy_timeout_s)
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        con.interrupt()

    timer = threading.Timer(timeout_s, stop)
    started = time.perf_counter()
    timer.start()
    try:
        relation = con.sql(sql)
        if relation is None:
            return SandboxResult(pl.DataFrame(), truncated=False, row_limit=row_limit)
        relation = _as_text_where_opaque(relation)
        # One row past the cap tells "exactly the cap" from "cut short" without counting all.
        frame = _fetch(
            relation.limit(row_limit + 1), max_result_mb=max_result_mb, timeout_s=timeout_s, expired=expired
        )
    # A streamed batch's error (the interrupt too) comes through Arrow's C stream as an OSError.
    except (duckdb.Error, pa.ArrowException, OSError) as error:
        if expired.is_set():
            raise SandboxError(_timed_out(timeout_s)) from None
        raise SandboxError(_friendly(error, max_result_mb)) from None
    finally:
        timer.cancel()
        con.close()
    truncated = frame.height > row_limit
    return SandboxResult(
        frame.head(row_limit),
        truncated=truncated,
        row_limit=row_limit,
        elapsed_s=time.perf_counter() - started,
    )
