"""Migration 0002: tables for gate results, alert state and the notification outbox."""

from __future__ import annotations

__all__ = ["ALERT_STATEMENTS"]

ALERT_STATEMENTS: list[str] = []
