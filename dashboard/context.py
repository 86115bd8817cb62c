"""What every page needs, built once by the entry file from the settings and passed down.

Pages never read the environment or the settings file: ``app.py`` builds a
:class:`DashboardContext`, keeps it in the session state, and pages ask for it with
:func:`get_context`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

__all__ = ["DashboardContext", "GateLine", "get_context", "set_context"]

_KEY = "flext_quality_context"


@dataclass(frozen=True, slots=True)
class GateLine:
    """A configured gate, as the trend charts draw it and the Gates page lists it (no import of
    ``alerts``): ``min``/``max`` of an absolute gate; ``rule`` its condition in one line, of
    any kind (``score max_worsening_percent=1 against=previous``)."""

    gate: str
    metric: str
    min: float | None
    max: float | None
    projects: tuple[str, ...] = ("*",)
    rule: str = ""


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """Settings values the pages use; ``routes`` are handed untouched to the alerts layer."""

    db: Path
    cache_ttl_s: int = 30
    score_metric: str = "quality.score"
    page_size: int = 50
    stale_after_days: float = 14.0
    sql_timeout_s: float = 10.0
    sql_row_limit: int = 10_000
    sql_memory_limit: str = "1GB"
    sql_max_result_mb: float = 100.0
    gates: tuple[GateLine, ...] = ()
    routes: tuple[Any, ...] = field(default=(), compare=False)


def set_context(context: DashboardContext) -> None:
    """Keep ``context`` for the pages of this session (called by the entry file)."""
    st.session_state[_KEY] = context


def get_context() -> DashboardContext:
    """The context the entry file stored for this session."""
    context = st.session_state.get(_KEY)
    if not isinstance(context, DashboardContext):
        raise RuntimeError("the dashboard context is missing: start the app from dashboard/app.py")
    return context
