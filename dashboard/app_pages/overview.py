"""Overview: every project with its score, gate state, sparkline and change; worst first."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from dashboard.context import get_context
from dashboard.data import overview, page_count, page_rows, search_projects, state_counts
from dashboard.text import literal
from dashboard.ui import NAME_LIMIT, PROJECT_KEY, counted, data_or_stop, shortened, with_signed_changes

ctx = get_context()
st.title("Overview")
version = data_or_stop(ctx)

projects = overview(
    str(ctx.db),
    version,
    ttl_s=ctx.cache_ttl_s,
    score_metric=ctx.score_metric,
    now=datetime.now(UTC).replace(tzinfo=None),
    stale_after_days=ctx.stale_after_days,
    gates=ctx.gates,
)
tally = state_counts(projects)
cols = st.columns(5)
cols[0].metric("Projects", projects.height)
cols[1].metric("Red", tally.get("red", 0))
cols[2].metric("Stale", tally.get("stale", 0))
cols[3].metric("No data", tally.get("no data", 0))
cols[4].metric("Green", tally.get("green", 0))
if unmeasured := tally.get("no data", 0):
    st.info(
        f"{counted(unmeasured, 'project')} {'is' if unmeasured == 1 else 'are'} `no data`: gates were "
        "checked but nothing was measured (every run failed, or no gate's metric was ever reported). "
        "The Runs page has each analyzer's error."
    )
if unevaluated := tally.get("not evaluated", 0):
    st.info(
        f"{counted(unevaluated, 'project')} {'has' if unevaluated == 1 else 'have'} gates configured that "
        "were never evaluated (`not evaluated`): generated demo data and runs stored before the gates "
        "were configured are not checked. `flext-quality check --no-collect --project NAME` evaluates "
        "a project's latest run, and the scheduler evaluates every new run."
    )

left, middle, right = st.columns([3, 1, 1])
search = left.text_input("Search projects", key="overview_search", placeholder="name contains…")
sizes = sorted({25, 50, 100, 250, ctx.page_size})
page_size = int(
    middle.selectbox("Per page", sizes, index=sizes.index(ctx.page_size), key="overview_page_size")
)
pages = page_count(search_projects(projects, search).height, page_size)
if int(st.session_state.get("overview_page", 1)) > pages:  # a narrower search has fewer pages
    st.session_state["overview_page"] = pages
page = right.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="overview_page")
shown, pages = page_rows(projects, search=search, page=int(page), page_size=page_size)

st.caption(
    "Sorted worst first: red gates, then projects whose runs all failed, then stale, then no data, "
    f"then by {literal(ctx.score_metric)} (lowest first)."
)
st.dataframe(
    with_signed_changes(
        shown.select(
            "gate_state",
            shortened("project"),
            "score",
            "change_week",
            "change_month",
            "spark",
            "last_run_at",
            "last_status",
            "runs",
        ),
        ["change_week", "change_month"],
    ),
    hide_index=True,
    width="stretch",
    placeholder="",
    column_config={
        "gate_state": st.column_config.TextColumn(
            "Gates",
            help="red: a gate fails · stale: no recent run · no data: gates checked, nothing measured · "
            "not evaluated: gates configured, never checked · green: gates pass",
        ),
        "project": st.column_config.TextColumn(
            "Project",
            help=f"a name longer than {NAME_LIMIT} characters is cut (…); the box below has it whole",
        ),
        "score": st.column_config.ProgressColumn("Score", min_value=0, max_value=100, format="%.1f"),
        "change_week": st.column_config.NumberColumn(
            "Δ week", help="change of the score since a week before the newest run"
        ),
        "change_month": st.column_config.NumberColumn(
            "Δ month", help="change of the score since 30 days before the newest run"
        ),
        "spark": st.column_config.LineChartColumn("Last 90 days"),
        "last_run_at": st.column_config.DatetimeColumn(
            "Last run", format="YYYY-MM-DD HH:mm", help="when the newest run started"
        ),
        "last_status": st.column_config.TextColumn(
            "Status", help="of the newest run; the Runs page has each analyzer's error"
        ),
        "runs": st.column_config.NumberColumn("Runs"),
    },
)

if shown.height:
    pick, go = st.columns([3, 1])
    target = pick.selectbox("Open a project's trends", shown["project"].to_list(), key="overview_open")
    if go.button("Open trends", key="overview_open_button", type="primary"):
        st.session_state[PROJECT_KEY] = target
        st.switch_page("app_pages/trends.py")
else:
    st.info("No project matches this search.")
