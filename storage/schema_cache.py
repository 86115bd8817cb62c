"""Migration 0003: the content-addressed per-file analysis cache used by collect and backfill.

One row per (tool, tool version, effective-configuration hash, file key): the per-file result a
per-file analyzer (ruff, bandit, complexity) produced for that content, as JSON. The file key is
the git blob sha of the content, possibly combined with the context a tool's result depends on
(see ``collectors.cache``); the cache itself treats it as an opaque string.
"""

from __future__ import annotations

__all__ = ["CACHE_STATEMENTS"]

CACHE_STATEMENTS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS file_cache (
        tool VARCHAR NOT NULL,
        tool_version VARCHAR NOT NULL,
        config_hash VARCHAR NOT NULL,
        blob_sha VARCHAR NOT NULL,
        payload VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (tool, tool_version, config_hash, blob_sha)
    )
    """,
]
