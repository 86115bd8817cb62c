"""Data of the SQL page: the views to list, sandboxed queries, and what a result can be shown as.

A sandboxed query can return any DuckDB type, and polars holds a few of them as raw bytes:
``BLOB`` and ``BIT`` as binary, ``BIGNUM``, ``GEOMETRY`` and a ``VARIANT`` inside a list or a
struct as Arrow extension types (the sandbox turns a top-level ``VARIANT`` into text itself).
:func:`readable` shows those as text; :func:`csv_bytes` refuses them (``None``), so the page
disables the CSV download and says which columns to cast (:func:`csv_hint`) instead of
crashing or writing Python byte reprs into a file.
"""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import polars as pl

from dashboard.data import cached, existing_views, read
from storage.errors import SandboxError
from storage.sandbox import PUBLIC_VIEW_NAMES, SandboxResult, run_sandboxed
from storage.tabular import byte_columns, csv_text

__all__ = [
    "EXAMPLE_QUERIES",
    "byte_columns",
    "csv_bytes",
    "csv_hint",
    "parquet_bytes",
    "readable",
    "run_query",
    "schema",
]

EXAMPLE_QUERIES: dict[str, str] = {
    "Newest value of every metric of one project": (
        "SELECT metric, arg_max(value, ts) AS value, max(ts) AS at\n"
        "FROM measures\nWHERE project = (SELECT min(project) FROM runs)\nGROUP BY metric\nORDER BY metric"
    ),
    "Weekly mean quality score per project": (
        "SELECT project, bucket AS week, round(mean_value, 1) AS score\n"
        "FROM measures_weekly\nWHERE metric = 'quality.score'\nORDER BY project, week"
    ),
    "Projects by number of runs and failures": (
        "SELECT project, count(*) AS runs, count(*) FILTER (WHERE status <> 'succeeded') AS not_ok,\n"
        "       max(started_at) AS last_run\nFROM runs\nGROUP BY project\nORDER BY not_ok DESC, runs DESC"
    ),
    "Slowest analyzers": (
        "SELECT tool, round(avg(duration_s), 2) AS mean_s, round(max(duration_s), 2) AS max_s,\n"
        "       count(*) FILTER (WHERE status = 'failed') AS failures\n"
        "FROM tool_runs\nGROUP BY tool\nORDER BY mean_s DESC"
    ),
    "Most frequent rules in the newest runs": (
        "WITH latest AS (\n  SELECT project, arg_max(run_id, coalesce(committed_at, started_at)) AS run_id\n"
        "  FROM runs GROUP BY project\n)\nSELECT tool, rule, count(*) AS findings\n"
        "FROM findings JOIN latest USING (run_id)\nGROUP BY tool, rule\nORDER BY findings DESC\nLIMIT 20"
    ),
    "The metric catalogue": "SELECT * FROM metrics ORDER BY name",
}


def _schema(db: str, version: str) -> pl.DataFrame:
    del version
    # The storage layer's lists, so that a new public view is listed without touching this page.
    names = [*PUBLIC_VIEW_NAMES, *sorted(existing_views(db))]
    (frame,) = read(
        db,
        (
            """SELECT table_name AS view, column_name AS column, data_type AS type, ordinal_position
               FROM information_schema.columns
               WHERE table_schema = 'main' AND table_name IN (SELECT unnest(?::VARCHAR[]))
               ORDER BY table_name, ordinal_position""",
            [names],
        ),
    )
    return frame.drop("ordinal_position")


def schema(db: str, version: str, *, ttl_s: int) -> dict[str, pl.DataFrame]:
    """The public views (and the alert views that exist) with their columns and types."""
    frame = cached(_schema, ttl_s)(db, version)
    return {str(name): part.drop("view") for (name,), part in frame.group_by("view", maintain_order=True)}


def _run_query(
    db: str, version: str, sql: str, timeout_s: float, row_limit: int, memory_limit: str,
    max_result_mb: float,
) -> SandboxResult:
    del version
    return run_sandboxed(
        Path(db), sql, timeout_s=timeout_s, row_limit=row_limit, memory_limit=memory_limit,
        max_result_mb=max_result_mb,
    )


def run_query(
    db: str, version: str, sql: str, *, timeout_s: float, row_limit: int, memory_limit: str, ttl_s: int,
    max_result_mb: float = 100.0,
) -> SandboxResult:
    """Run a user query in the SQL sandbox (cached, so reruns of the page do not run it again).

    Raises :class:`storage.errors.SandboxError` with a readable reason when it is refused (also
    when its result is larger than ``max_result_mb``), and when polars cannot take the result.
    """
    try:
        return cached(_run_query, ttl_s)(db, version, sql, timeout_s, row_limit, memory_limit, max_result_mb)
    except pl.exceptions.PolarsError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SandboxError(
            f"the result has a column type the dashboard cannot read ({reason}): "
            "cast that column to VARCHAR in the query, e.g. CAST(col AS VARCHAR)"
        ) from None


def readable(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its :func:`byte_columns` as text, for ``st.dataframe``.

    ``st.dataframe`` shows a BLOB as a list of byte values and a VARIANT in a list as its
    binary encoding; DuckDB, which made these values, reads them back from Arrow and casts
    them to VARCHAR (``[1, x]``, ``{'a': 2}``, ``\\x01abc``). Other columns are left alone.
    """
    names = byte_columns(frame)
    if not names:
        return frame
    # Positional names: a column may be called anything, including "a.b" or "".
    alias = {name: f"c{i}" for i, name in enumerate(names)}
    con = duckdb.connect(":memory:")
    try:
        relation = con.from_arrow(frame.select(names).rename(alias).to_arrow())
        text = relation.select(
            *(duckdb.ColumnExpression(a).cast(duckdb.sqltype("VARCHAR")).alias(a) for a in alias.values())
        ).pl()
    finally:
        con.close()
    return frame.with_columns(text.rename({a: name for name, a in alias.items()}))


def csv_bytes(frame: pl.DataFrame) -> bytes | None:
    """The frame as CSV (nested values as JSON text), or ``None`` when CSV cannot hold it.

    ``None`` when a column holds raw bytes (:func:`byte_columns`: CSV has no bytes, and their
    Python reprs would be garbage), or when polars refuses some other type.
    """
    text = csv_text(frame)
    return None if text is None else text.encode("utf-8")


def csv_hint(frame: pl.DataFrame) -> str:
    """Why :func:`csv_bytes` gave ``None``, and what to do about it (Markdown)."""
    names = byte_columns(frame)
    if not names:
        return "CSV cannot hold this result: cast unusual columns to VARCHAR, or download Parquet."
    which = ", ".join(f"`{name}`" for name in names)
    return (
        f"CSV cannot hold column{'s' if len(names) > 1 else ''} {which} (raw bytes): cast to VARCHAR "
        "in the query, e.g. `CAST(col AS VARCHAR)`, or download Parquet."
    )


def parquet_bytes(frame: pl.DataFrame) -> bytes | None:
    """The frame as a Parquet file in memory (``None`` in the unlikely case polars refuses it)."""
    buffer = io.BytesIO()
    try:
        frame.write_parquet(buffer)
    except pl.exceptions.PolarsError:
        return None
    return buffer.getvalue()
