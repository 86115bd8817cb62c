"""Project trends: metrics over time with gates, failures, tool changes, and what changed."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import trend_figure
from dashboard.context import get_context
from dashboard.data import configured_for, run_statuses
from dashboard.data_trends import (
    RANGE_PRESETS,
    RANGE_SLUGS,
    TrendLink,
    compare_runs,
    gate_failures,
    gate_thresholds,
    gates_evaluated,
    metric_units,
    moving_thresholds,
    project_metrics,
    project_runs,
    project_span,
    range_bounds,
    read_link,
    tool_changes,
    trend_series,
)
from dashboard.text import literal
from dashboard.ui import choose_project, counted, data_or_stop, run_label

ctx = get_context()
db, ttl = str(ctx.db), ctx.cache_ttl_s
st.title("Project trends")
version = data_or_stop(ctx)

top = st.columns([2, 3, 2])
with top[0]:
    project = choose_project(ctx, version)
statuses = run_statuses(db, version, project, ttl_s=ttl)
run_count = sum(statuses.values())
available = project_metrics(db, version, project, ttl_s=ttl)
if not available:
    if statuses.get("failed", 0) == run_count:
        st.info(
            f"{'The only run' if run_count == 1 else f'All {run_count} runs'} of this project failed: "
            "no metrics to show. See the Runs page for the analyzers' errors."
        )
    else:
        st.info(f"The runs of {literal(project)} stored no metrics (see the Runs page).")
    st.stop()
# A link (?range=1y&metrics=a,b) gives the widgets their first values; after that they keep
# their own (another project's metrics left in the address are not a link's mistake).
link = TrendLink()
if "trend_range" not in st.session_state:
    link = read_link(st.query_params.get("range"), st.query_params.get("metrics"), available)
default = [m for m in (ctx.score_metric, "ruff.issues", "coverage.line_percent") if m in available][:2]
metrics = top[1].multiselect(
    "Metrics", available, default=list(link.metrics) or default or available[:1], key="trend_metrics"
)
presets = list(RANGE_PRESETS)
preset = top[2].radio(
    "Range", presets, index=presets.index(link.preset or "90 days"), horizontal=True, key="trend_range"
)
if link.unknown_range is not None:
    choices = ", ".join(RANGE_SLUGS.values())
    st.caption(f"Ignored the link's range {literal(link.unknown_range)} (it takes one of {choices}).")
if link.unknown_metrics:
    names = ", ".join(map(literal, link.unknown_metrics))
    st.caption(f"Ignored the link's metrics that this project has no data for: {names}.")
# Written back at once, so a reload or a shared link opens on what is shown now.
st.query_params["range"] = RANGE_SLUGS[str(preset)]
if metrics:
    st.query_params["metrics"] = ",".join(metrics)
else:
    st.query_params.pop("metrics", None)

span = project_span(db, version, project, ttl_s=ttl)
if span is None or not metrics:
    st.info("Pick at least one metric.")
    st.stop()
start, end = range_bounds(span, str(preset))
points, grain = trend_series(db, version, project, metrics, start, end, ttl_s=ttl)
failures = gate_failures(db, version, project, metrics, start, end, ttl_s=ttl)
changes = tool_changes(db, version, project, start, end, ttl_s=ttl)
if gates_evaluated(db, version, project, ttl_s=ttl):
    gate_note = counted(failures.height, "gate failure")
elif configured_for(ctx.gates, project):
    # Plain `collect` and generated data store runs without evaluating the gates drawn here.
    gate_note = "gates not evaluated (`flext-quality check --no-collect` or the scheduler evaluates them)"
else:
    gate_note = "no gates"
st.caption(
    f"{start:%Y-%m-%d} to {end:%Y-%m-%d} · granularity: **{grain}**"
    + (
        " (raw points: hover shows commit, author and message)"
        if grain == "raw"
        else " (rollup buckets: line is each bucket's last value, band is min to max)"
    )
    + f" · {gate_note} · {counted(changes.height, 'analyzer or configuration change')}"
)
st.plotly_chart(
    trend_figure(
        points,
        metrics,
        grain,
        thresholds=gate_thresholds(db, version, project, ctx.gates, ttl_s=ttl),
        failures=failures,
        changes=changes,
        moving=moving_thresholds(db, version, project, metrics, start, end, ttl_s=ttl),
        units=metric_units(db, version, ttl_s=ttl),
    ),
    width="stretch",
    key="trend_chart",
)
if changes.height:
    with st.expander(f"Analyzer and configuration changes ({changes.height})"):
        st.dataframe(changes, hide_index=True, width="stretch", placeholder="")

st.subheader("What changed")
runs = project_runs(db, version, project, start, end, ttl_s=ttl)
if run_count < 2:
    st.info("Only one run so far: collect again to see changes.")
    st.stop()
if runs.height < 2:
    st.info("Fewer than two runs in this range: widen the range to compare.")
    st.stop()
labels = {
    run_id: run_label(ts, sha, message)
    for run_id, ts, sha, message in runs.select("run_id", "ts", "commit_sha", "message").iter_rows()
}
ids = runs["run_id"].to_list()
# The choice belongs to one project and range: a new range compares its first run with its last
# again. The choice is set, not dropped: the keys stay, so a dropped value would leave the
# browser showing the old run while the page compares from another.
picked = {st.session_state.get("trend_from"), st.session_state.get("trend_to")}
if st.session_state.get("trend_compare_scope") != (project, preset) or not picked <= set(ids):
    st.session_state["trend_from"], st.session_state["trend_to"] = ids[0], ids[-1]
    st.session_state["trend_compare_scope"] = (project, preset)
pick = st.columns(2)
run_a = pick[0].selectbox("From", ids, format_func=labels.__getitem__, key="trend_from")
run_b = pick[1].selectbox("To", ids, format_func=labels.__getitem__, key="trend_to")
if run_a == run_b:
    st.info("Choose two different runs.")
    st.stop()
comparison = compare_runs(db, version, project, str(run_a), str(run_b), ttl_s=ttl)
tabs = st.tabs(
    [
        f"Metrics ({comparison.deltas.filter(comparison.deltas['verdict'] != 'same').height} changed)",
        f"New findings ({comparison.new_findings.height})",
        f"Fixed findings ({comparison.fixed_findings.height})",
        f"Commits ({comparison.commits.height})",
    ]
)
tabs[0].dataframe(comparison.deltas, hide_index=True, width="stretch", placeholder="")
tabs[1].dataframe(
    comparison.new_findings.select("tool", "rule", "severity", "path", "line", "message"),
    hide_index=True,
    width="stretch",
    placeholder="",
)
tabs[2].dataframe(
    comparison.fixed_findings.select("tool", "rule", "severity", "path", "line", "message"),
    hide_index=True,
    width="stretch",
    placeholder="",
)
tabs[3].dataframe(comparison.commits, hide_index=True, width="stretch", placeholder="")
