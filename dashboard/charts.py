"""Chart builders: plain functions from frames to ``plotly.graph_objects.Figure``.

Tests inspect ``fig.data`` directly; pages only call ``st.plotly_chart(fig)``. Trace names are
part of the contract: ``gate failed``, ``gate: <name>``, ``tool change``, ``range``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

__all__ = [
    "FAIL_COLOUR",
    "count_axis",
    "findings_flow_figure",
    "gate_timeline_figure",
    "horizontal_bars",
    "query_chart",
    "tool_durations_figure",
    "trend_figure",
]

FAIL_COLOUR = "#dc2626"
GOOD_COLOUR = "#16a34a"
LINE_COLOUR = "#2563eb"
STATE_COLOURS = {"pass": GOOD_COLOUR, "fail": FAIL_COLOUR, "stale": "#a16207", "no_data": "#64748b"}
# How a metric's value is written in a hover (d3-format): thousands separated, up to ten
# significant digits, no trailing zeros: 28,427 and 87.5 and 73.25 (".4g" wrote 2.843e+4).
VALUE = ",.10~g"


def _plain(text: object) -> str:
    """Text from the data for a plotly label, shown as written: plotly reads tags (``<b>``,
    ``<a href>``) and entities in labels, and without a ``<`` or a ``&`` there is neither."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;")


def _hover(frame: pl.DataFrame, grain: str) -> tuple[list[list[object]], str]:
    data = [
        [
            (sha or "")[:10],
            _plain(author or ""),
            _plain((message or "").splitlines()[0][:80] if message else ""),
            lo,
            hi,
            "" if n is None else f"{int(n):,} point" if n == 1 else f"{int(n):,} points",
        ]
        for sha, author, message, lo, hi, n in frame.select(
            "commit_sha", "author", "message", "min_value", "max_value", "n"
        ).iter_rows()
    ]
    commit = "commit %{customdata[0]} by %{customdata[1]}<br>%{customdata[2]}"
    if grain == "raw":
        return (
            data,
            f"%{{x|%Y-%m-%d %H:%M}}<br><b>%{{y:{VALUE}}}</b><br>{commit}<extra>%{{fullData.name}}</extra>",
        )
    template = (
        f"%{{x|%Y-%m-%d}} ({grain})<br>last <b>%{{y:{VALUE}}}</b>, min %{{customdata[3]:{VALUE}}}, "
        f"max %{{customdata[4]:{VALUE}}}, %{{customdata[5]}}<br>last {commit}"
        "<extra>%{fullData.name}</extra>"
    )
    return data, template


def _time_span(times: pl.Series) -> list[Any]:
    """First and last time of ``times``; a single instant gets a day either side, or plotly
    zooms in to sub-millisecond ticks around it."""
    if times.is_empty():
        return []
    first, last = times.min(), times.max()
    if first == last:
        return [first - timedelta(days=1), first + timedelta(days=1)]  # type: ignore[operator]
    return [first, last]


def _gate_line(gate: str, x: list[Any], y: list[Any], *, moving: bool) -> go.Scatter:
    """A gate threshold: dashed and flat for absolute gates, a dotted step line for relative ones."""
    return go.Scatter(
        x=x,
        y=y,
        mode="lines",
        line_shape="hv" if moving else "linear",
        name=f"gate: {gate}",
        line={"color": FAIL_COLOUR, "dash": "dot" if moving else "dash", "width": 1.5},
        hovertemplate=f"gate {gate}: %{{y:{VALUE}}}<extra></extra>",
    )


def trend_figure(
    points: pl.DataFrame,
    metrics: Sequence[str],
    grain: str,
    *,
    thresholds: Sequence[tuple[str, str, float]] = (),
    failures: pl.DataFrame | None = None,
    changes: pl.DataFrame | None = None,
    moving: pl.DataFrame | None = None,
    units: Mapping[str, str | None] | None = None,
) -> go.Figure:
    """One panel per metric: the line, its min-max band for buckets, gate lines, failures, changes.

    ``points`` has the columns of :func:`dashboard.data_trends.trend_series`; ``thresholds``
    are (gate, metric, value); ``failures`` has ts, metric, gate, value; ``changes`` has ts,
    tool, prev_version, tool_version, prev_hash, config_hash; ``moving`` has ts, metric, gate,
    threshold of relative gates, drawn as a step line; ``units`` (metric -> unit, from the
    metric catalogue) become the y axis titles.
    """
    metrics = list(metrics) or ["(none)"]
    units = units or {}
    legend_shown: set[str] = set()

    def once(name: str) -> bool:
        # One legend entry per kind of trace, however many panels repeat it.
        first = name not in legend_shown
        legend_shown.add(name)
        return first

    # Sizes in pixels: each panel, the gap that holds the next panel's title, and the bottom
    # margin that holds the two-line date ticks (day, then year) and the legend below them.
    panel_px, gap_px, top_px, bottom_px = 240, 60, 40, 100
    plot_px = len(metrics) * panel_px + (len(metrics) - 1) * gap_px
    fig = make_subplots(
        rows=len(metrics),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=gap_px / plot_px,
        subplot_titles=[_plain(m) for m in metrics],
    )
    for row, metric in enumerate(metrics, start=1):
        fig.update_yaxes(title_text=units.get(metric) or None, row=row, col=1)
        part = points.filter(pl.col("metric") == metric).sort("ts")
        if grain != "raw" and part.height:
            fig.add_trace(
                go.Scatter(
                    x=[*part["ts"].to_list(), *reversed(part["ts"].to_list())],
                    y=[*part["max_value"].to_list(), *reversed(part["min_value"].to_list())],
                    fill="toself",
                    fillcolor="rgba(37,99,235,0.12)",
                    line={"width": 0},
                    hoverinfo="skip",
                    name="range",
                    legendgroup="range",
                    showlegend=once("range"),
                ),
                row=row,
                col=1,
            )
        customdata, template = _hover(part, grain)
        fig.add_trace(
            go.Scatter(
                x=part["ts"].to_list(),
                y=part["value"].to_list(),
                mode="lines+markers" if part.height < 120 else "lines",
                name=_plain(metric),
                line={"color": LINE_COLOUR, "width": 2},
                marker={"size": 5},
                customdata=customdata,
                hovertemplate=template,
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        x_range = _time_span(part["ts"])
        for gate, gate_metric, value in thresholds:
            if gate_metric == metric and x_range:
                fig.add_trace(_gate_line(gate, x_range, [value, value], moving=False), row=row, col=1)
        if moving is not None and moving.height:
            for (gate,), steps in moving.filter(pl.col("metric") == metric).group_by(
                "gate", maintain_order=True
            ):
                line = _gate_line(str(gate), steps["ts"].to_list(), steps["threshold"].to_list(), moving=True)
                fig.add_trace(line, row=row, col=1)
        if failures is not None and failures.height:
            failed = failures.filter(pl.col("metric") == metric)
            if failed.height:
                fig.add_trace(
                    go.Scatter(
                        x=failed["ts"].to_list(),
                        y=failed["value"].to_list(),
                        mode="markers",
                        name="gate failed",
                        marker={"color": FAIL_COLOUR, "size": 10, "symbol": "circle"},
                        customdata=[
                            [g, (s or "")[:10]] for g, s in failed.select("gate", "commit_sha").iter_rows()
                        ],
                        hovertemplate=f"gate %{{customdata[0]}} failed<br>%{{y:{VALUE}}} at commit "
                        "%{customdata[1]}<extra></extra>",
                        legendgroup="failed",
                        showlegend=once("gate failed"),
                    ),
                    row=row,
                    col=1,
                )
        if changes is not None and changes.height and part.height:
            top = float(part["max_value"].max() or 0.0)  # type: ignore[arg-type]
            labels = [_change_label(r) for r in changes.iter_rows(named=True)]
            fig.add_trace(
                go.Scatter(
                    x=changes["ts"].to_list(),
                    y=[top] * changes.height,
                    mode="markers",
                    name="tool change",
                    marker={"symbol": "triangle-down", "size": 11, "color": "#7c3aed"},
                    text=labels,
                    hovertemplate="%{text}<extra>tool change</extra>",
                    legendgroup="change",
                    showlegend=once("tool change"),
                ),
                row=row,
                col=1,
            )
    if changes is not None:
        for ts in changes["ts"].unique().to_list():
            fig.add_vline(x=ts, line={"color": "#7c3aed", "dash": "dot", "width": 1})
    fig.update_layout(
        height=plot_px + top_px + bottom_px,
        margin={"l": 60, "r": 20, "t": top_px, "b": bottom_px},
        hovermode="closest",
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -48 / plot_px, "yanchor": "top"},
    )
    fig.update_xaxes(automargin=True)
    if points.height and points["ts"].n_unique() == 1:
        fig.update_xaxes(range=_time_span(points["ts"]))
    fig.update_yaxes(automargin=True)
    return fig


def _change_label(row: dict[str, object]) -> str:
    parts = [str(row["tool"])]
    if row["prev_version"] != row["tool_version"]:
        parts.append(f"version {row['prev_version']} -> {row['tool_version']}")
    if row["prev_hash"] != row["config_hash"]:
        parts.append("configuration changed")
    return _plain(": ".join([parts[0], ", ".join(parts[1:])]))


def count_axis(span: float) -> dict[str, Any]:
    """Axis settings for counts over ``span``: whole-number ticks only (never 0.5).

    Plotly picks 0.5 steps for a range as small as 0-1; the step here is the smallest of
    1, 2, 5, 10, 20, 50, ... that gives at most six intervals.
    """
    steps = (m * 10**k for k in itertools.count() for m in (1, 2, 5))
    step = next(s for s in steps if span / s <= 6)
    return {"dtick": step, "tick0": 0, "tickformat": ",d", "rangemode": "tozero"}


# How a period of the findings flow is written: on the axis (never a time of day: every bar is
# a whole day, week or month) and in the hover.
_PERIOD_FORMAT = {"day": ("%Y-%m-%d", "%Y-%m-%d"), "week": ("%Y-%m-%d", "week of %Y-%m-%d"),
                  "month": ("%b %Y", "%B %Y")}


def findings_flow_figure(flow: pl.DataFrame, grain: str = "week") -> go.Figure:
    """New findings up, fixed findings down, per period (``grain``: day, week or month)."""
    tick, hover = _PERIOD_FORMAT.get(grain, _PERIOD_FORMAT["day"])
    fig = go.Figure()
    for kind, sign, colour in (("new", 1, FAIL_COLOUR), ("fixed", -1, GOOD_COLOUR)):
        part = flow.filter(pl.col("kind") == kind).sort("period")
        fig.add_trace(
            go.Bar(
                x=part["period"].to_list(),
                y=[sign * v for v in part["findings"].to_list()],
                name=kind,
                marker_color=colour,
                hovertemplate=f"%{{x|{hover}}}: %{{customdata}} {kind}<extra></extra>",
                customdata=part["findings"].to_list(),
            )
        )
    new = [v for v in flow.filter(pl.col("kind") == "new")["findings"].to_list() if v]
    fixed = [v for v in flow.filter(pl.col("kind") == "fixed")["findings"].to_list() if v]
    fig.update_layout(
        barmode="relative",
        height=320,
        margin={"l": 40, "r": 20, "t": 20, "b": 30},
        xaxis={"type": "date", "tickformat": tick},
        yaxis={
            "title": "findings (fixed below zero)",
            **count_axis(max(new, default=0) + max(fixed, default=0)),
        },
    )
    return fig


def horizontal_bars(frame: pl.DataFrame, label: str, value: str, *, colour: str = LINE_COLOUR) -> go.Figure:
    """A ranked horizontal bar chart of counts (largest on top, whole-number ticks)."""
    part = frame.sort(value)
    fig = go.Figure(
        go.Bar(
            x=part[value].to_list(),
            y=part[label].to_list(),
            orientation="h",
            marker_color=colour,
            hovertemplate="%{y}: %{x:,d}<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(240, 24 * part.height + 60),
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        xaxis=count_axis(float(part[value].max() or 0)),  # type: ignore[arg-type]
    )
    return fig


def gate_timeline_figure(history: pl.DataFrame) -> go.Figure:
    """Each gate result as a dot on its project/gate row at its run's time, coloured by state."""
    fig = go.Figure()
    frame = history.with_columns((pl.col("project") + " · " + pl.col("gate")).alias("row"))
    for state in sorted(set(frame["state"].to_list())):
        part = frame.filter(pl.col("state") == state)
        fig.add_trace(
            go.Scatter(
                x=part["ts" if "ts" in part.columns else "evaluated_at"].to_list(),
                y=part["row"].to_list(),
                mode="markers",
                name=state,
                marker={"color": STATE_COLOURS.get(state, "#64748b"), "size": 9, "symbol": "square"},
                customdata=part.select("value", "threshold").rows(),
                hovertemplate=f"%{{y}}<br>%{{x|%Y-%m-%d %H:%M}}: value %{{customdata[0]:{VALUE}}}, "
                f"threshold %{{customdata[1]:{VALUE}}}<extra>{state}</extra>",
            )
        )
    fig.update_layout(
        height=max(220, 40 * frame["row"].n_unique() + 100), margin={"l": 10, "r": 10, "t": 10, "b": 30}
    )
    return fig


def tool_durations_figure(tools: pl.DataFrame) -> go.Figure:
    """Duration of each analyzer in one run; failed ones in red."""
    colours = [FAIL_COLOUR if s == "failed" else LINE_COLOUR for s in tools["status"].to_list()]
    fig = go.Figure(
        go.Bar(
            x=tools["duration_s"].to_list(),
            y=tools["tool"].to_list(),
            orientation="h",
            marker_color=colours,
            hovertemplate="%{y}: %{x:.2f}s<extra></extra>",
        )
    )
    fig.update_layout(
        height=max(200, 36 * tools.height + 60),
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        xaxis_title="seconds",
    )
    return fig


def query_chart(frame: pl.DataFrame, kind: str, x: str, y: Sequence[str]) -> go.Figure:
    """A line, bar or scatter chart of SQL results: ``x`` against each column in ``y``."""
    fig = go.Figure()
    for column in y:
        xs, ys = frame[x].to_list(), frame[column].to_list()
        if kind == "bar":
            fig.add_trace(go.Bar(x=xs, y=ys, name=column))
        else:
            fig.add_trace(
                go.Scatter(x=xs, y=ys, name=column, mode="markers" if kind == "scatter" else "lines")
            )
    fig.update_layout(height=380, margin={"l": 40, "r": 20, "t": 20, "b": 30})
    return fig
