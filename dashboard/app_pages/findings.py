"""Findings: new vs fixed per period, top rules, hot-spot files, current findings with first-seen commit."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.charts import FAIL_COLOUR, findings_flow_figure, horizontal_bars
from dashboard.context import get_context
from dashboard.data import run_statuses
from dashboard.data_findings import (
    analyzers_ran,
    as_filter,
    current_findings,
    filter_options,
    flow,
    hot_spots,
    top_rules,
)
from dashboard.data_ops import SHORT_SHA
from dashboard.text import literal
from dashboard.ui import choose_project, data_or_stop

ctx = get_context()
db, ttl = str(ctx.db), ctx.cache_ttl_s
st.title("Findings")
version = data_or_stop(ctx)

top = st.columns([2, 1])
with top[0]:
    project = choose_project(ctx, version)
grain = top[1].radio("Per", ["day", "week", "month"], index=1, horizontal=True, key="findings_grain")
options = filter_options(db, version, project, ttl_s=ttl)
if not options["tools"]:
    statuses = run_statuses(db, version, project, ttl_s=ttl)
    runs = sum(statuses.values())
    if statuses.get("failed", 0) == runs:
        st.info(
            f"{'The only run' if runs == 1 else f'All {runs} runs'} of {literal(project)} failed: no "
            "analyzer produced findings. See the Runs page for the analyzers' errors."
        )
    elif analyzers_ran(db, version, project, ttl_s=ttl):
        st.info(f"No findings in the runs of {literal(project)}: every analyzer that ran found nothing.")
    else:
        st.info(
            f"No findings stored for {literal(project)}: its runs carry metrics only "
            "(generated or imported data)."
        )
    st.stop()
filters = st.columns(4)
selected = as_filter(
    filters[0].multiselect("Tool", options["tools"], key="findings_tools"),
    filters[1].multiselect("Severity", options["severities"], key="findings_severities"),
    filters[2].multiselect("Rule", options["rules"], key="findings_rules"),
    filters[3].text_input("Path contains", key="findings_path"),
)

st.subheader(f"New and fixed per {grain}")
flows = flow(db, version, project, str(grain), selected, ttl_s=ttl)
if flows.height:
    st.plotly_chart(findings_flow_figure(flows, str(grain)), width="stretch", key="findings_flow")
elif sum(run_statuses(db, version, project, ttl_s=ttl).values()) == 1:
    st.info("Only one run so far: new and fixed findings show once the project is collected again.")
else:
    st.info("No finding was new or fixed between runs for this selection.")

current = current_findings(db, version, project, selected, ttl_s=ttl)
left, right = st.columns(2)
with left:
    st.subheader("Top rules")
    st.plotly_chart(
        horizontal_bars(top_rules(current), "label", "findings"), width="stretch", key="findings_rules_chart"
    )
with right:
    st.subheader("Hot-spot files")
    st.plotly_chart(
        horizontal_bars(hot_spots(current), "path", "findings", colour=FAIL_COLOUR),
        width="stretch",
        key="findings_files_chart",
    )

st.subheader(f"Current findings ({current.height})")
st.caption(
    "Findings of the newest run; 'first seen' is the earliest run of this project "
    "that had the same fingerprint."
)
st.dataframe(
    # The short commit, as on the Runs page, so that the message keeps the width.
    current.drop("fingerprint").with_columns(pl.col("first_commit").str.slice(0, SHORT_SHA)),
    hide_index=True,
    width="stretch",
    placeholder="",
    column_config={
        "tool": st.column_config.TextColumn("Analyzer"),
        "rule": st.column_config.TextColumn("Rule"),
        "severity": st.column_config.TextColumn("Severity"),
        "confidence": st.column_config.TextColumn("Confidence"),
        "path": st.column_config.TextColumn("File"),
        "line": st.column_config.NumberColumn("Line", format="%d"),
        "message": st.column_config.TextColumn("Message"),
        "first_seen": st.column_config.DatetimeColumn("First seen", format="YYYY-MM-DD HH:mm"),
        "first_commit": st.column_config.TextColumn("First commit"),
        "first_author": st.column_config.TextColumn("First author"),
    },
)
