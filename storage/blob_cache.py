"""The content-addressed per-file result cache, kept in the metric database (``file_cache``).

Per-file analyzers (ruff, bandit, complexity) give the same result for the same file content
under the same tool version and effective configuration, so their results are stored under
``(tool, tool_version, config_hash, blob_sha)``: a file unchanged between commits, or between a
backfill and a later ``collect``, is analysed once. Reads and writes are bulk (a polars frame is
registered and joined, never a loop of single-row statements), and a process-local memo keeps a
long backfill from re-reading what it already has. The class satisfies the ``FileCache``
protocol of ``collectors.cache`` structurally; storage does not import collectors.
"""

from __future__ import annotations

import json
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

MemoKey = tuple[str, str, str, str]


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
    """Per-file analysis results in ``store``'s ``file_cache`` table, with an in-process memo.

    ``memo_limit`` bounds the memo (entries); beyond it the memo is cleared, which costs only
    re-reads. Payloads must be JSON-serialisable; they come back as decoded JSON.
    """

    def __init__(self, store: MetricStore, *, memo_limit: int = 200_000) -> None:
        self.store = store
        self.memo_limit = memo_limit
        self.stats = CacheStats()
        self._memo: dict[MemoKey, Any] = {}

    def get_many(
        self, tool: str, tool_version: str, config_hash: str, blob_shas: Iterable[str]
    ) -> dict[str, Any]:
        """The cached results among ``blob_shas``: ``{blob_sha: payload}`` (misses are absent)."""
        wanted = list(dict.fromkeys(blob_shas))
        found: dict[str, Any] = {}
        missing: list[str] = []
        for sha in wanted:
            key = (tool, tool_version, config_hash, sha)
            if key in self._memo:
                found[sha] = self._memo[key]
            else:
                missing.append(sha)
        if missing and self.store.path.exists():
            found.update(self._read(tool, tool_version, config_hash, missing))
        self.stats.hits += len(found)
        self.stats.misses += len(wanted) - len(found)
        return found

    def _read(
        self, tool: str, tool_version: str, config_hash: str, shas: list[str]
    ) -> dict[str, Any]:
        keys = pl.DataFrame({"blob_sha": shas}, schema=_KEY_SCHEMA)
        with self.store.reader() as con:
            con.register("_wanted_blobs", keys)
            rows = con.execute(
                "SELECT c.blob_sha, c.payload FROM file_cache c "
                "JOIN _wanted_blobs w ON c.blob_sha = w.blob_sha "
                "WHERE c.tool = ? AND c.tool_version = ? AND c.config_hash = ?",
                [tool, tool_version, config_hash],
            ).fetchall()
            con.unregister("_wanted_blobs")
        result = {str(sha): json.loads(payload) for sha, payload in rows}
        self._remember(tool, tool_version, config_hash, result)
        return result

    def put_many(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, Any]
    ) -> None:
        """Store ``{blob_sha: payload}``; an existing entry for the same key is kept as is."""
        fresh = {
            sha: payload
            for sha, payload in results.items()
            if (tool, tool_version, config_hash, sha) not in self._memo
        }
        self._remember(tool, tool_version, config_hash, dict(results))
        if not fresh:
            return
        now = datetime.now(UTC).replace(tzinfo=None)
        frame = pl.DataFrame(
            {
                "tool": [tool] * len(fresh),
                "tool_version": [tool_version] * len(fresh),
                "config_hash": [config_hash] * len(fresh),
                "blob_sha": list(fresh),
                "payload": [json.dumps(p, sort_keys=True, separators=(",", ":")) for p in fresh.values()],
                "created_at": [now] * len(fresh),
            },
            schema=_ROW_SCHEMA,
        )
        with self.store.transaction() as con:
            con.register("_new_blobs", frame)
            con.execute(
                "INSERT INTO file_cache SELECT * FROM _new_blobs ON CONFLICT DO NOTHING"
            )
            con.unregister("_new_blobs")
        self.stats.stored += len(fresh)

    def _remember(
        self, tool: str, tool_version: str, config_hash: str, results: Mapping[str, Any]
    ) -> None:
        if len(self._memo) + len(results) > self.memo_limit:
            self._memo.clear()
        for sha, payload in results.items():
            self._memo[(tool, tool_version, config_hash, sha)] = payload

    def count(self) -> int:
        """Entries in the database table (for summaries and tests)."""
        if not self.store.path.exists():
            return 0
        return int(self.store.fetch("SELECT count(*) FROM file_cache")[0][0])
