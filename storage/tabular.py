"""Query results as text files: JSON-ready values and CSV, the same for the CLI and the dashboard.

A query can return any DuckDB type. CSV has flat cells, so a nested value (a list, a struct, a
map) is written as its JSON text, with NaN and infinity as ``null`` as in JSON output. Raw bytes
have no faithful CSV form: polars holds ``BLOB`` and ``BIT`` as binary and ``BIGNUM``,
``GEOMETRY`` and a ``VARIANT`` inside a list or struct as Arrow extension types. A result with
such a column (:func:`byte_columns`) is refused, for the caller to suggest a cast.
"""

from __future__ import annotations

import json
import math

import polars as pl
from polars.datatypes import DataTypeClass

__all__ = ["byte_columns", "csv_text", "json_default", "json_ready"]


def json_ready(value: object) -> object:
    """``value`` with NaN and infinity (which JSON cannot hold) as ``None``, at any depth."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    return value


def json_default(value: object) -> str:
    """``json.dumps``'s fallback: blobs as hex; dates, decimals and anything else as their text."""
    return value.hex() if isinstance(value, bytes) else str(value)


def _holds_bytes(dtype: pl.DataType | DataTypeClass) -> bool:
    """True for raw bytes (binary, Arrow extension types), also inside lists, structs and maps."""
    # `==`, not isinstance: the inner type of a list can be the class itself (pl.Binary).
    if dtype == pl.Binary or dtype.is_extension():
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _holds_bytes(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_holds_bytes(field.dtype) for field in dtype.fields)
    if isinstance(dtype, pl.Map):
        return _holds_bytes(dtype.key) or _holds_bytes(dtype.value)
    return False


def byte_columns(frame: pl.DataFrame) -> list[str]:
    """Columns whose values polars holds as raw bytes (see the module docstring)."""
    return [name for name, dtype in frame.schema.items() if _holds_bytes(dtype)]


def _as_json(values: list[object]) -> list[str | None]:
    return [
        None if v is None else json.dumps(json_ready(v), default=json_default, allow_nan=False)
        for v in values
    ]


def csv_text(frame: pl.DataFrame) -> str | None:
    """The frame as CSV with nested values as JSON text; ``None`` when CSV cannot hold it.

    ``None`` when a column holds raw bytes (:func:`byte_columns`), or polars refuses a type.
    """
    if byte_columns(frame):
        return None
    nested = [c for c, t in frame.schema.items() if t.is_nested()]
    flat = frame.with_columns(pl.Series(c, _as_json(frame[c].to_list()), pl.String) for c in nested)
    try:
        return flat.write_csv()
    except pl.exceptions.PolarsError:
        return None
