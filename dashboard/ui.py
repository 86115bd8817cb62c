"""Small UI pieces shared by the pages: the first-run message, the data guard, the project picker."""

from __future__ import annotations

import streamlit as st

from dashboard.context import DashboardContext
from dashboard.data import data_version, has_runs, projects
from storage.errors import DatabaseBusyError, StoreError

__all__ = ["FIRST_RUN_TEXT", "PROJECT_KEY", "choose_project", "data_or_stop", "first_run", "version_or_stop"]

FIRST_RUN_TEXT = """
**No runs yet.** This database is empty: collect something first, then reload this page.

```bash
flext-quality collect path/to/project            # analyse the working tree once
flext-quality backfill path/to/project --commits 50 --every week   # trends from git history
flext-quality demo                               # or generated demo projects
```
"""
PROJECT_KEY = "project"


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
    wanted = st.session_state.get(PROJECT_KEY) or st.query_params.get("project")
    index = names.index(wanted) if wanted in names else 0
    chosen = st.selectbox(label, names, index=index, key=f"{PROJECT_KEY}_picker")
    st.session_state[PROJECT_KEY] = chosen
    st.query_params["project"] = chosen
    return str(chosen)
