"""Small UI pieces shared by the pages: the first-run message, the data guard, the project pickers,
and how a change, a long name or a run is written."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl
import streamlit as st

from dashboard.context import DashboardContext
from dashboard.data import data_version, has_runs, projects
from dashboard.data_ops import SHORT_SHA
from dashboard.text import literal
from storage.errors import DatabaseBusyError, StoreError

__all__ = [
    "ALL_PROJECTS",
    "COMMIT_WIDTH_PX",
    "FIRST_RUN_TEXT",
    "NAME_LIMIT",
    "PROJECT_KEY",
    "choose_project",
    "choose_project_or_all",
    "counted",
    "data_or_stop",
    "first_run",
    "run_label",
    "shortened",
    "signed_change",
    "version_or_stop",
    "with_signed_changes",
]

FIRST_RUN_TEXT = """
**No runs yet.** This database is empty: collect something first, then reload this page.

```bash
flext-quality collect path/to/project            # analyse the working tree once
flext-quality backfill path/to/project --commits 50 --every week   # trends from git history
flext-quality demo                               # or generated demo projects
```
"""
PROJECT_KEY = "project"
# The ?project= value this session has already followed (a link is followed once, then the
# user's own picks win).
_LINK_SEEN = "project_link_seen"
ALL_PROJECTS = "(all projects)"
# Characters of a project name a table shows; a 200-character name would push the other
# columns off the screen.
NAME_LIMIT = 60
# Pixels of a table column that holds a short commit: the grid sizes columns to fit the page
# and would otherwise cut the SHORT_SHA characters.
COMMIT_WIDTH_PX = 100


def first_run(context: DashboardContext) -> None:
    """The helpful message shown instead of a page when there is nothing to show."""
    st.info(FIRST_RUN_TEXT)
    st.caption(f"Database: `{context.db}`")


def version_or_stop(context: DashboardContext) -> str:
    """The data version, or a readable message and stop when the database cannot be read."""
    try:
        version = data_version(str(context.db))
    except DatabaseBusyError as error:
        st.warning(f"The database is busy right now ({error}). Reload in a moment.")
        st.stop()
    except StoreError as error:
        st.error(f"Cannot read the database: {error}")
        st.stop()
    if version is None:
        first_run(context)
        st.stop()
    return version


def data_or_stop(context: DashboardContext) -> str:
    """Like :func:`version_or_stop`, and also stop with the first-run message without runs."""
    version = version_or_stop(context)
    if not has_runs(version):
        first_run(context)
        st.stop()
    return version


def choose_project(context: DashboardContext, version: str, *, label: str = "Project") -> str:
    """A project select box shared by pages (the choice follows the user from page to page).

    The choice also lives in the URL (``?project=``) so that a page can be linked to.
    """
    names = projects(str(context.db), version, context.cache_ttl_s)
    linked = _linked_project(names)
    picker = f"{PROJECT_KEY}_picker"
    if linked is not None or st.session_state.get(picker) not in names:
        # a link wins over the project picked before; coming from another page, the project
        # picked there
        wanted = linked or st.session_state.get(PROJECT_KEY)
        st.session_state[picker] = wanted if wanted in names else names[0]
    chosen = st.selectbox(label, names, key=picker)
    _keep_in_address(str(chosen))
    return str(chosen)


def _linked_project(names: Sequence[str]) -> str | None:
    """The project the address names (``?project=``) when this session has not shown it yet.

    A name that is not in the database (a typo, a project since renamed) is said once, so
    the page does not show another project's data as if it were the one asked for.
    """
    wanted = st.query_params.get("project")
    if wanted is None or st.session_state.get(_LINK_SEEN) == wanted:
        return None
    st.session_state[_LINK_SEEN] = wanted
    if wanted not in names:
        st.warning(f"No project named {literal(wanted)} in this database: showing another one.")
        return None
    return str(wanted)


def choose_project_or_all(context: DashboardContext, version: str, *, key: str) -> str | None:
    """A project select box that also offers every project; ``None`` means all of them.

    The choice is read from and kept in the URL (``?project=``), so that a link (an alert's
    ``/gates?project=NAME``) opens the page on that project.
    """
    names = projects(str(context.db), version, context.cache_ttl_s)
    linked = _linked_project(names)
    # the project picked on another page follows, unless this picker was set here already
    wanted = linked or (None if key in st.session_state else st.session_state.get(PROJECT_KEY))
    options = [ALL_PROJECTS, *names]
    if wanted in names:
        st.session_state[key] = wanted
    chosen = st.selectbox("Project", options, key=key)
    if chosen == ALL_PROJECTS:
        st.query_params.pop("project", None)
        st.session_state[_LINK_SEEN] = None
        return None
    _keep_in_address(str(chosen))
    return str(chosen)


def _keep_in_address(project: str) -> None:
    """The user's pick: kept for the other pages and in the address (which is then not a new
    link to follow)."""
    st.session_state[PROJECT_KEY] = project
    st.session_state[_LINK_SEEN] = project
    st.query_params["project"] = project


def shortened(column: str, limit: int = NAME_LIMIT) -> pl.Expr:
    """``column`` cut to ``limit`` characters, the last one an ellipsis when it was cut."""
    text = pl.col(column)
    return pl.when(text.str.len_chars() > limit).then(text.str.slice(0, limit - 1) + "…").otherwise(text)


def run_label(ts: datetime, commit_sha: str | None, message: str | None, *, limit: int = 90) -> str:
    """One run in a select box: ``2026-11-20 12:00 · 0123456789 · first line of the message``.

    A run without a commit (imported data, a folder outside git) says ``no commit``; a run
    without a message ends after its commit.
    """
    parts = [f"{ts:%Y-%m-%d %H:%M}", commit_sha[:SHORT_SHA] if commit_sha else "no commit"]
    if lines := (message or "").strip().splitlines():
        parts.append(lines[0].strip())
    return " · ".join(parts)[:limit]


def counted(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one: ``1 gate``, ``9 gate states``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def signed_change(value: float | None) -> str:
    """A change to one decimal with its sign (``+1.5``, ``-2.0``); a zero is ``0.0``, never
    ``-0.0`` or ``+0.0``; a missing change is an empty string."""
    if value is None or math.isnan(value):
        return ""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def with_signed_changes(frame: pl.DataFrame, columns: Sequence[str]) -> Any:
    """``frame`` for ``st.dataframe``, its ``columns`` written by :func:`signed_change`.

    A pandas Styler: the cells show the text while the values stay numbers, so that sorting
    by a change column still sorts by the change (a text column would sort "+10" before "+2").
    ``st.column_config.NumberColumn`` has no format that drops the sign of a zero only.
    """
    return frame.to_pandas().style.format(signed_change, subset=list(columns))
