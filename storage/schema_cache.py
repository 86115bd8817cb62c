"""Migration 0003: the content-addressed per-file analysis cache used by collect and backfill."""

from __future__ import annotations

__all__ = ["CACHE_STATEMENTS"]

CACHE_STATEMENTS: list[str] = []
