"""Runs: the newest runs with status, trigger and per-analyzer status, duration and error."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import tool_durations_figure
from dashboard.context import get_context
from dashboard.data_ops import recent_runs, run_labels, tool_details
from dashboard.text import literal
from dashboard.ui import COMMIT_WIDTH_PX, choose_project_or_all, counted, data_or_stop
from storage.models import RUN_STATUSES, TRIGGERS

ctx = get_context()
db, ttl = str(ctx.db), ctx.cache_ttl_s
st.title("Runs")
version = data_or_stop(ctx)

filters = st.columns([2, 2, 2, 1])
with filters[0]:
    project = choose_project_or_all(ctx, version, key="runs_project")
statuses = filters[1].multiselect("Status", list(RUN_STATUSES), key="runs_status")
triggers = filters[2].multiselect("Trigger", list(TRIGGERS), key="runs_trigger")
limit = int(filters[3].selectbox("Show", [50, 200, 1000], key="runs_limit"))

runs = recent_runs(
    db,
    version,
    project=project,
    statuses=statuses,
    triggers=triggers,
    limit=limit,
    ttl_s=ttl,
)
st.caption(
    f"{counted(runs.height, 'run')}, newest first · "
    f"{runs.filter(runs['status'] != 'succeeded').height} not fully succeeded"
)
st.dataframe(
    runs,
    hide_index=True,
    width="stretch",
    placeholder="",
    # The short commit, so that duration and analyzers fit; the full one is in the run detail.
    column_order=[
        "started_at",
        "project",
        "status",
        "trigger",
        "commit",
        "duration_s",
        "tools",
        "failed_tools",
        "author",
        "branch",
        "message",
    ],
    column_config={
        "started_at": st.column_config.DatetimeColumn("Started", format="YYYY-MM-DD HH:mm:ss"),
        "project": st.column_config.TextColumn("Project"),
        "status": st.column_config.TextColumn("Status"),
        "trigger": st.column_config.TextColumn("Trigger"),
        "commit": st.column_config.TextColumn("Commit", width=COMMIT_WIDTH_PX),
        "duration_s": st.column_config.NumberColumn("Duration (s)", format="%.1f"),
        "tools": st.column_config.TextColumn("Analyzers"),
        "failed_tools": st.column_config.NumberColumn("Failed", help="analyzers that failed"),
        "author": st.column_config.TextColumn("Author"),
        "branch": st.column_config.TextColumn("Branch"),
        "message": st.column_config.TextColumn("Message"),
    },
)
if not runs.height:
    st.stop()

st.subheader("Analyzers of one run")
labels = run_labels(runs)
run_id = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key="runs_detail")
if sha := dict(zip(runs["run_id"], runs["commit_sha"], strict=True))[run_id]:
    st.caption("Commit of this run (the full hash, to copy):")
    st.code(sha, language=None)
tools = tool_details(db, version, str(run_id), ttl_s=ttl)
if tools.height:
    st.plotly_chart(tool_durations_figure(tools), width="stretch", key="runs_tools_chart")
    for row in tools.filter(tools["error"].is_not_null()).iter_rows(named=True):
        # a skipped tool (no coverage data, no mypy configured) is not a failure, and a
        # succeeded tool's text is a note (mypy's on unused configuration sections); the
        # text is the analyzer's, shown as written (never as Markdown: no planted links)
        tool, error = literal(row["tool"]), literal(row["error"])
        if row["status"] == "failed":
            st.error(f"{tool} failed: {error}")
        else:
            st.info(f"{tool} {literal(row['status'])}: {error}")
    st.dataframe(tools, hide_index=True, width="stretch", placeholder="")
else:
    st.info("This run has no analyzer records (generated or imported data).")
