"""Rollups equal a naive recomputation from the live raw points, whatever the history.

Hypothesis draws sequences of appends: new commits, re-appends of a commit with other values
(replacement), and working-tree runs without a commit, at times that cross day, ISO week
(Monday) and month boundaries and sometimes coincide (ties for the last value).
"""

from __future__ import annotations

import statistics
import tempfile
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import make_run

from storage.store import MetricStore

START = datetime(2026, 1, 26, 0, 0)  # a Monday; 48 six-hour steps reach into March
METRICS = ("a", "b", "c")

operation = st.tuples(
    st.sampled_from(("p", "q")),
    st.one_of(st.none(), st.sampled_from(("c1", "c2", "c3", "c4", "c5"))),
    st.integers(min_value=0, max_value=160).map(lambda k: START + timedelta(hours=6 * k)),
    st.dictionaries(st.sampled_from(METRICS),
                    st.integers(min_value=-50, max_value=50).map(float), min_size=1, max_size=3),
)


def _bucket(ts: datetime, grain: str) -> datetime:
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def naive_rollups(points: list[tuple[datetime, str, str, float]], grain: str) -> list[tuple[object, ...]]:
    """(bucket, project, metric, min, max, mean, last, n) by brute force."""
    groups: dict[tuple[datetime, str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for ts, project, metric, value in points:
        groups[(_bucket(ts, grain), project, metric)].append((ts, value))
    rows = []
    for (bucket, project, metric), items in sorted(groups.items()):
        values = [v for _, v in items]
        last = max(items)[1]  # latest time; at equal times the larger value
        rows.append((bucket, project, metric, min(values), max(values),
                     statistics.fmean(values), last, len(values)))
    return rows


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=9))
def test_rollups_match_a_naive_recomputation(
    ops: list[tuple[str, str | None, datetime, dict[str, float]]],
) -> None:
    live: dict[tuple[str, str], tuple[datetime, dict[str, float]]] = {}
    loose: list[tuple[datetime, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = MetricStore(Path(folder) / "p.duckdb")
        for i, (project, commit, when, measures) in enumerate(ops):
            store.append_run(make_run(project, commit, measures, when, run_id=f"r{i}", findings=0))
            if commit is None:
                loose.append((when, project, measures))
            else:
                live[(project, commit)] = (when, measures)
        points = [(when, project, m, v) for (project, _), (when, ms) in live.items() for m, v in ms.items()]
        points += [(when, project, m, v) for when, project, ms in loose for m, v in ms.items()]
        assert store.fetch("SELECT count(*) FROM measures")[0][0] == len(points)
        for grain, view in (("day", "measures_daily"), ("week", "measures_weekly"),
                            ("month", "measures_monthly")):
            got = store.fetch(f"SELECT bucket, project, metric, min_value, max_value, mean_value, "
                              f"last_value, n FROM {view} ORDER BY bucket, project, metric")
            want = naive_rollups(points, grain)
            assert [r[:3] for r in got] == [r[:3] for r in want], grain
            for g, w in zip(got, want, strict=True):
                assert g[3:5] == w[3:5] and g[6:] == w[6:], (grain, g, w)
                assert g[5] == pytest.approx(w[5]), (grain, g, w)
        # A rebuild from scratch gives the same rollups as the incremental path.
        before = {v: store.fetch(f"SELECT * FROM {v} ORDER BY ALL")
                  for v in ("measures_daily", "measures_weekly", "measures_monthly")}
        store.rebuild_rollups()
        after = {v: store.fetch(f"SELECT * FROM {v} ORDER BY ALL") for v in before}
        assert after.keys() == before.keys()
        for v in before:
            assert [r[:4] + r[5:] for r in after[v]] == [r[:4] + r[5:] for r in before[v]]
            assert [r[4] for r in after[v]] == pytest.approx([r[4] for r in before[v]])


def test_naive_buckets_follow_iso_weeks_and_months() -> None:
    sunday = datetime(2026, 3, 1, 23, 0)
    assert _bucket(sunday, "week") == datetime(2026, 2, 23)
    assert _bucket(sunday, "month") == datetime(2026, 3, 1)
    assert _bucket(sunday + timedelta(hours=1), "week") == datetime(2026, 3, 2)
