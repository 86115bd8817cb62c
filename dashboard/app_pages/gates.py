"""Gates and alerts: current state of every gate, history on a timeline, the outbox, a test button."""

from __future__ import annotations

import streamlit as st

from dashboard.charts import gate_timeline_figure
from dashboard.context import get_context
from dashboard.data import projects
from dashboard.data_ops import alert_states, gate_history, gate_rule, history_range, not_evaluated, outbox
from dashboard.notify import send_test
from dashboard.text import literal
from dashboard.ui import choose_project_or_all, counted, version_or_stop

# Project names listed in the "not evaluated yet" note before "and N more".
NAMES_SHOWN = 5
# Columns of the alert_states view shown under "Current state", in this order.
STATE_COLUMNS = ("project", "gate", "state", "since", "consecutive_failures", "last_notified_at")
# Gates are evaluated when a run is stored; generated demo data and runs stored before a gate
# was configured have no result for it.
HOW_TO_EVALUATE = (
    "`flext-quality check --no-collect --project NAME` evaluates a project's latest run; "
    "the scheduler evaluates every new run."
)

ctx = get_context()
db, ttl = str(ctx.db), ctx.cache_ttl_s
st.title("Gates and alerts")
version = version_or_stop(ctx)

chosen = choose_project_or_all(ctx, version, key="gates_project")

states = alert_states(db, version, project=chosen, ttl_s=ttl)
if states is None and ctx.gates:
    st.info(
        f"{counted(len(ctx.gates), 'gate')} configured, never evaluated in this database. {HOW_TO_EVALUATE}"
    )
elif states is None:
    st.info(
        "No gates configured yet: this database has no gate results. Add `[[gates]]` to "
        "flext-quality.toml and run `flext-quality check` or the scheduler."
    )
else:
    st.subheader("Current state")
    if states.height:
        failing = states.filter(states["state"] == "fail").height
        gates = counted(states["gate"].n_unique(), "gate")
        where = counted(states["project"].n_unique(), "project")
        st.caption(
            f"{counted(states.height, 'gate state')}, one per project and gate ({gates} over {where}) "
            f"· {failing} failing."
        )
        # What a reader needs; run ids and bookkeeping times stay in the alert_states view.
        st.dataframe(
            states,
            hide_index=True,
            width="stretch",
            placeholder="",
            column_order=[c for c in STATE_COLUMNS if c in states.columns],
            column_config={
                "project": st.column_config.TextColumn("Project"),
                "gate": st.column_config.TextColumn("Gate"),
                "state": st.column_config.TextColumn("State", help="pass, fail, no_data or stale"),
                "since": st.column_config.DatetimeColumn("In this state since", format="YYYY-MM-DD HH:mm"),
                "consecutive_failures": st.column_config.NumberColumn(
                    "Failed runs in a row", help="consecutive runs on which this gate failed"
                ),
                "last_notified_at": st.column_config.DatetimeColumn(
                    "Last alert sent", format="YYYY-MM-DD HH:mm"
                ),
            },
        )
    missing = not_evaluated(projects(db, version, ttl) if chosen is None else [chosen], ctx.gates, states)
    if missing:
        names = ", ".join(literal(name) for name in missing[:NAMES_SHOWN])
        more = f" and {len(missing) - NAMES_SHOWN} more" if len(missing) > NAMES_SHOWN else ""
        st.info(
            f"Not evaluated yet for {counted(len(missing), 'project')} with runs ({names}{more}): gates "
            "are evaluated when a run is stored, so generated demo data and runs stored before a gate "
            f"was configured have no state for it. {HOW_TO_EVALUATE}"
        )
    elif not states.height:
        st.info(f"No gate has been evaluated for this selection yet. {HOW_TO_EVALUATE}")
    if ctx.gates:
        with st.expander(f"Configured gates ({len(ctx.gates)})"):
            st.dataframe(
                [
                    {
                        "gate": g.gate,
                        "metric": g.metric,
                        "rule": gate_rule(g),
                        "projects": ", ".join(g.projects),
                    }
                    for g in ctx.gates
                ],
                hide_index=True,
                placeholder="",
                column_config={
                    "gate": st.column_config.TextColumn("Gate"),
                    "metric": st.column_config.TextColumn("Metric"),
                    "rule": st.column_config.TextColumn(
                        "Rule", help="min/max, or how far the metric may move against a reference"
                    ),
                    "projects": st.column_config.TextColumn("Projects"),
                },
            )

    st.subheader("History")
    history = gate_history(db, version, project=chosen, ttl_s=ttl)
    if history is not None and history.height:
        timeline = gate_timeline_figure(history)
        if (span := history_range(history["ts"])) is not None:
            timeline.update_xaxes(range=span)  # whole minutes or days, not milliseconds
        st.plotly_chart(timeline, width="stretch", key="gates_timeline")
    else:
        st.info("No gate results yet.")

st.subheader("Outbox")
messages = outbox(db, version, project=chosen, ttl_s=ttl)
if messages is None:
    st.info("No outbox yet: notifications appear here once routes are configured and a gate changes state.")
else:
    status = st.segmented_control(
        "Status",
        ["pending", "delivered", "failed"],
        selection_mode="multi",
        default=["pending", "delivered", "failed"],
        key="gates_outbox_status",
    )
    shown = messages.filter(messages["status"].is_in(list(status or [])))
    st.caption(
        f"{shown.height} of {counted(messages.height, 'message')} · endpoints are masked"
        + (" · test notifications (about no project) are listed under every project" if chosen else "")
    )
    when = "YYYY-MM-DD HH:mm:ss"
    st.dataframe(
        # The body is the whole message; the dedup key and body format are internal.
        shown.drop([c for c in ("body", "dedup_key", "body_format") if c in shown.columns]),
        hide_index=True,
        width="stretch",
        placeholder="",
        column_config={
            "message_id": st.column_config.TextColumn("Message id"),
            "route": st.column_config.TextColumn("Route"),
            "endpoint": st.column_config.TextColumn("Endpoint (masked)"),
            "purpose": st.column_config.TextColumn("Purpose"),
            "project": st.column_config.TextColumn("Project"),
            "title": st.column_config.TextColumn("Title"),
            "status": st.column_config.TextColumn("Status"),
            "notify_type": st.column_config.TextColumn("Type"),
            "attempts": st.column_config.NumberColumn("Attempts", format="%d"),
            "created_at": st.column_config.DatetimeColumn("Created", format=when),
            "next_attempt_at": st.column_config.DatetimeColumn("Next attempt", format=when),
            "delivered_at": st.column_config.DatetimeColumn("Delivered", format=when),
            "last_error": st.column_config.TextColumn("Last error"),
        },
    )

st.subheader("Send a test notification")
st.caption(
    f"{counted(len(ctx.routes), 'route')} configured. The message goes through the outbox like any alert."
)
if st.button("Send a test notification", key="gates_test", disabled=not ctx.routes):
    # Rerun after sending, so that the outbox above already lists the test message.
    st.session_state["gates_test_result"] = send_test(ctx.db, ctx.routes)
    st.rerun()
if result := st.session_state.pop("gates_test_result", None):
    kind, text = result
    (st.success if kind == "ok" else st.error)(literal(text))  # endpoints and errors as written
