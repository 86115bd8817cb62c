"""The content-addressed per-file result cache, kept in the metric database (``file_cache``).

Per-file analyzers (ruff, bandit, complexity) give the same result for the same file content
under the same tool version and effective configuration, so their results are stored under
``(tool, tool_version, config_hash, blob_sha)``: a file unchanged between commits, or between a
backfill and a later ``collect``, is analysed once. Reads and writes are bulk (a polars frame is
registered and joined, never a loop of single-row statements). The class stores opaque JSON texts;
``collectors`` wraps it into its ``FileCache`` protocol (storage does not import collectors).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from storage.store import MetricStore

__all__ = ["BlobCache", "CacheStats"]

_KEY_SCHEMA: dict[str, Any] = {"blob_sha": pl.String}
_ROW_SCHEMA: dict[str, Any] = {
    "tool": pl.String,
    "tool_version": pl.String,
    "config_hash": pl.String,
    "blob_sha": pl.String,
    "payload": pl.String,
    "created_at": pl.Datetime("us"),
}

@dataclass(slots=True)
class CacheStats:
    """Counts of one cache object's lifetime: file results served, asked for, and stored."""

    hits: int = 0
    misses: int = 0
    stored: int = 0

    @property
    def hit_rate(self) -> float:
        """Share of looked-up files served from the cache (0.0 when nothing was asked)."""
        asked = self.hits + self.misses
        return self.hits / asked if asked else 0.0


class BlobCache:
    """Per-file analysis results in ``store``'s ``file_cache`` table.

    Payloads are JSON texts, stored and returned verbatim (the collectors encode and decode
    their own result type, which storage does not know).
    """

    def __init__(self, store: MetricStore) -> None:
        self.store = store
        self.stats = CacheStats()
        # The collect pipeline asks from one thread per analyzer, and DuckDB refuses a second
        # connection to the same file within one process while the first is open.
        self._lock = threading.Lock()

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, str]:
        """The cached payloads among ``blob_shas``: ``{blob_sha: json_text}`` (misses absent)."""
        wanted = list(dict.fromkeys(blob_shas))
        found: dict[str, str] = {}
        if wanted and self.store.path.exists():
            keys = pl.DataFrame({"blob_sha": wanted}, schema=_KEY_SCHEMA)
            with self._lock, self.store.reader() as con:
                con.register("_wanted_blobs", keys)
                rows = con.execute(
                    "SELECT c.blob_sha, c.payload FROM file_cache c "
                    "JOIN _wanted_blobs w ON c.blob_sha = w.blob_sha "
                    "WHERE c.tool = ? AND c.tool_version = ? AND c.config_hash = ?",
                    [tool, tool_version, config_hash],
                ).fetchall()
                con.unregister("_wanted_blobs")
            found = {str(sha): str(payload) for sha, payload in rows}
        self.stats.hits += len(found)
        self.stats.misses += len(wanted) - len(found)
        return found

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, payloads: Mapping[str, str]
    ) -> None:
        """Store ``{blob_sha: json_text}``; an existing entry for the same key is kept as is."""
        self.put_groups({(tool, tool_version, config_hash): payloads})

    def put_groups(self, groups: Mapping[tuple[str, str, str], Mapping[str, str]]) -> None:
        """Store payloads of several ``(tool, tool_version, config_hash)`` at once, one transaction."""
        now = datetime.now(UTC).replace(tzinfo=None)
        columns: dict[str, list[Any]] = {name: [] for name in _ROW_SCHEMA}
        for (tool, tool_version, config_hash), payloads in groups.items():
            columns["tool"] += [tool] * len(payloads)
            columns["tool_version"] += [tool_version] * len(payloads)
            columns["config_hash"] += [config_hash] * len(payloads)
            columns["blob_sha"] += list(payloads)
            columns["payload"] += list(payloads.values())
            columns["created_at"] += [now] * len(payloads)
        if not columns["blob_sha"]:
            return
        frame = pl.DataFrame(columns, schema=_ROW_SCHEMA)
        with self._lock, self.store.transaction() as con:
            con.register("_new_blobs", frame)
            con.execute("INSERT INTO file_cache SELECT * FROM _new_blobs ON CONFLICT DO NOTHING")
            con.unregister("_new_blobs")
        self.stats.stored += frame.height

    def count(self) -> int:
        """Entries in the database table (for summaries and tests)."""
        if not self.store.path.exists():
            return 0
        return int(self.store.fetch("SELECT count(*) FROM file_cache")[0][0])
