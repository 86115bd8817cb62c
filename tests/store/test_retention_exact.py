"""Retention keeps rollups exact: re-collecting a commit, a rebuild and migration 0009 count
the raw points retention dropped.

Each test keeps the list of every point ever stored (minus the values a replacement
superseded) and compares every grain with a brute-force recomputation of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
from store_helpers import (
    Point,
    assert_rollups_equal_naive,
    database_before,
    make_run,
    naive_rollups,
    rollup_rows,
)

from storage.maintenance import apply_retention
from storage.migrations import MIGRATIONS
from storage.store import MetricStore

# Four commits in January 2026; the second and third ISO weeks hold one each.
JANUARY = {
    "c1": (datetime(2026, 1, 6, 9), {"m": 5.0, "k": 1.0}),
    "c2": (datetime(2026, 1, 14, 9), {"m": 9.0, "k": 2.0}),
    "c3": (datetime(2026, 1, 20, 9), {"m": 7.0, "k": 3.0}),
    "c4": (datetime(2026, 1, 28, 9), {"m": 6.0, "k": 4.0}),
}
CUTOFF = datetime(2026, 1, 20)  # drops c1 and c2, keeps c3 and c4


def _points(commits: dict[str, tuple[datetime, dict[str, float]]], project: str = "p") -> list[Point]:
    return [(ts, project, m, v) for ts, ms in commits.values() for m, v in ms.items()]


def _store_january(store: MetricStore) -> dict[str, tuple[datetime, dict[str, float]]]:
    for commit, (ts, measures) in JANUARY.items():
        store.append_run(make_run("p", commit, measures, ts))
    return dict(JANUARY)


def _retain(store: MetricStore, cutoff: datetime) -> int:
    return apply_retention(store, max_age_days=10, now=cutoff + timedelta(days=10))


def test_recollecting_a_commit_after_retention_keeps_the_dropped_points(store: MetricStore) -> None:
    stored = _store_january(store)
    assert _retain(store, CUTOFF) == 4  # two commits, two metrics each
    assert store.fetch("SELECT count(*) FROM measures")[0][0] == 4
    assert_rollups_equal_naive(store, _points(stored))
    # Re-collecting the last commit replaces its run: the month straddling the cutoff keeps
    # the two commits whose raw points are gone (it used to fall to n = 2).
    stored["c4"] = (JANUARY["c4"][0], {"m": 8.0, "k": 0.5})
    store.append_run(make_run("p", "c4", stored["c4"][1], stored["c4"][0], run_id="again"))
    assert store.fetch("SELECT n, mean_value FROM measures_monthly WHERE metric = 'm'") == [(4, 7.25)]
    assert_rollups_equal_naive(store, _points(stored))
    # A second round: a later cutoff drops c3 too, and a re-collect of c4 still adds up.
    assert _retain(store, datetime(2026, 1, 27)) == 2
    stored["c4"] = (JANUARY["c4"][0], {"m": 1.0, "k": 9.0})
    store.append_run(make_run("p", "c4", stored["c4"][1], stored["c4"][0], run_id="third"))
    assert_rollups_equal_naive(store, _points(stored))


def test_a_replaced_commit_in_a_week_that_straddles_the_cutoff(store: MetricStore) -> None:
    # Monday 19 January (dropped) and Tuesday 20 January (kept) share a week.
    stored = {"a": (datetime(2026, 1, 19, 23), {"m": 3.0}), "b": (datetime(2026, 1, 20, 1), {"m": 4.0}),
              "z": (datetime(2026, 2, 2), {"m": 0.0})}
    for commit, (ts, ms) in stored.items():
        store.append_run(make_run("p", commit, ms, ts))
    assert _retain(store, CUTOFF) == 1
    stored["b"] = (stored["b"][0], {"m": 1.0})
    store.append_run(make_run("p", "b", {"m": 1.0}, stored["b"][0], run_id="b-again"))
    assert store.fetch("SELECT min_value, max_value, last_value, n FROM measures_weekly "
                       "WHERE bucket = '2026-01-19'") == [(1.0, 3.0, 1.0, 2)]
    assert_rollups_equal_naive(store, _points(stored))


def test_a_rebuild_after_retention_equals_a_recomputation_of_every_point(store: MetricStore) -> None:
    stored = _store_january(store)
    stored["f1"] = (datetime(2026, 2, 3, 9), {"m": 2.0, "k": 2.0})
    store.append_run(make_run("p", "f1", stored["f1"][1], stored["f1"][0]))
    assert _retain(store, CUTOFF) == 4
    store.rebuild_rollups()
    assert_rollups_equal_naive(store, _points(stored))
    stored["c3"] = (JANUARY["c3"][0], {"m": 100.0, "k": -1.0})
    store.append_run(make_run("p", "c3", stored["c3"][1], stored["c3"][0], run_id="c3-again"))
    store.rebuild_rollups()
    assert_rollups_equal_naive(store, _points(stored))


def test_retention_keeps_the_newest_run_of_a_project(store: MetricStore) -> None:
    # A project without new commits: the scheduler re-collects the same old commit each time.
    stored = _store_january(store)
    assert _retain(store, datetime(2026, 6, 1)) == 6  # c1 to c3; c4 is the newest run
    assert store.fetch("SELECT DISTINCT run_id FROM measures") == [("p-c4-2026-01-28T09:00:00",)]
    for attempt in range(3):
        stored["c4"] = (JANUARY["c4"][0], {"m": float(attempt), "k": 4.0})
        store.append_run(make_run("p", "c4", stored["c4"][1], stored["c4"][0], run_id=f"x{attempt}"))
        assert _retain(store, datetime(2026, 6, 1)) == 0
    assert_rollups_equal_naive(store, _points(stored))


# -- migration 0009 ---------------------------------------------------------------------------


def _database_at_0008(
    path: Path, points: list[Point], cutoff: datetime | None, *, cutoff_kept: bool = True
) -> None:
    """A file as release 0008 left it: migrations applied by hand, the runs, the rollups of
    every point, and (with a cutoff) retention's work: old raw points gone, the cutoff kept
    (not by a release before 0005: ``cutoff_kept=False``)."""
    con = database_before(path, "0009_retention_dropped_record")
    try:
        for ts in sorted({p[0] for p in points}):
            con.execute("INSERT INTO run_record (run_id, project, commit_sha, committed_at, trigger, "
                        "started_at, finished_at, status, point_ts) VALUES "
                        "(?, 'p', ?, ?, 'manual', ?, ?, 'succeeded', ?)", [str(ts), str(ts), *[ts] * 4])
        for ts, project, metric, value in points:
            if cutoff is None or ts >= cutoff:
                con.execute("INSERT INTO measure_point VALUES (?, ?, ?, ?, ?, ?)",
                            [ts, project, metric, value, str(ts), str(ts)])
        metrics = sorted({p[2] for p in points})
        for i, metric in enumerate(metrics, start=1):
            con.execute("INSERT INTO series VALUES (?, 'p', ?)", [i, metric])
        for grain in ("day", "week", "month"):
            for bucket, _, metric, low, high, mean, last, n, last_ts in naive_rollups(points, grain):
                assert isinstance(mean, float) and isinstance(n, int)
                con.execute(f"INSERT INTO rollup_{grain} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [metrics.index(str(metric)) + 1, bucket, low, high, mean * n, n, last_ts, last])
        if cutoff is not None and cutoff_kept:
            con.execute("INSERT INTO store_state VALUES ('retention_cutoff', ?)", [cutoff.isoformat()])
    finally:
        con.close()


def _dropped_rows(store: MetricStore) -> int:
    return sum(int(store.fetch(f"SELECT count(*) FROM dropped_{g}")[0][0]) for g in ("day", "week", "month"))


def test_0009_derives_the_dropped_record_from_the_rollups(tmp_path: Path) -> None:
    stored = dict(JANUARY)
    # The month's minimum and maximum are dropped points' (so the derived record knows them
    # exactly); its last value is a kept one's.
    stored["c1"] = (JANUARY["c1"][0], {"m": -3.0, "k": 10.0})
    stored["c2"] = (JANUARY["c2"][0], {"m": 20.0, "k": -10.0})
    stored["d1"] = (datetime(2025, 12, 30, 9), {"m": 4.0, "k": 4.0})  # a month wholly dropped
    path = tmp_path / "v8.duckdb"
    _database_at_0008(path, _points(stored), CUTOFF)
    tables = " UNION ALL ".join(f"SELECT '{g}', * FROM rollup_{g}" for g in ("day", "week", "month"))
    con = duckdb.connect(str(path), read_only=True)
    before = con.execute(f"{tables} ORDER BY ALL").fetchall()
    con.close()
    store = MetricStore(path)
    assert store.ensure_schema() == [name for version, name, _ in MIGRATIONS if version >= 9]
    assert store.fetch(f"{tables} ORDER BY ALL") == before  # the migration changes no rollup
    assert _dropped_rows(store) > 0
    store.rebuild_rollups()
    assert_rollups_equal_naive(store, _points(stored))
    # Replacing the kept commits recomputes the straddling month from the raw points and
    # the derived record: nothing dropped is lost.
    for commit, values in (("c3", {"m": 1.0, "k": 30.0}), ("c4", {"m": 2.0, "k": 0.0})):
        stored[commit] = (JANUARY[commit][0], values)
        store.append_run(make_run("p", str(JANUARY[commit][0]), values, JANUARY[commit][0],
                                  run_id=f"{commit}-again"))
    assert_rollups_equal_naive(store, _points(stored))
    # A commit added at an old time and then re-collected recomputes a bucket that lies wholly
    # before the cutoff (December): its dropped point still counts.
    late = datetime(2025, 12, 31, 9)
    for value in (6.0, 8.0):
        stored["late"] = (late, {"m": value})
        store.append_run(make_run("p", "late", {"m": value}, late, run_id=f"late-{value}"))
    assert store.fetch("SELECT n, min_value, max_value, last_value FROM measures_monthly "
                       "WHERE metric = 'm' AND bucket = '2025-12-01'") == [(2, 4.0, 8.0, 8.0)]
    assert_rollups_equal_naive(store, _points(stored))


def test_0009_leaves_the_record_empty_when_retention_never_ran(tmp_path: Path) -> None:
    path = tmp_path / "v8.duckdb"
    _database_at_0008(path, _points(JANUARY), None)
    store = MetricStore(path)
    before = rollup_rows(store)
    assert _dropped_rows(store) == 0
    store.rebuild_rollups()
    assert rollup_rows(store) == before


def test_retention_by_a_release_that_kept_no_cutoff_is_derived_by_0011(tmp_path: Path) -> None:
    # Retention before 0005 dropped raw points and recorded nothing: 0009 had no cutoff to
    # derive from, and a rebuild or a re-collect then lost the dropped points for good.
    stored = dict(JANUARY)
    path = tmp_path / "v4.duckdb"
    _database_at_0008(path, _points(stored), CUTOFF, cutoff_kept=False)
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT count(*) FROM measure_point").fetchall() == [(4,)]  # c1, c2 gone
    con.close()
    store = MetricStore(path)
    before = rollup_rows(store)
    store.ensure_schema()
    assert rollup_rows(store) == before and _dropped_rows(store) > 0
    store.rebuild_rollups()
    assert rollup_rows(store) == before  # nothing lost
    assert_rollups_equal_naive(store, _points(stored))
    stored["c3"] = (JANUARY["c3"][0], {"m": 1.0, "k": 30.0})
    store.append_run(make_run("p", str(JANUARY["c3"][0]), stored["c3"][1], JANUARY["c3"][0],
                              run_id="c3-again"))
    assert_rollups_equal_naive(store, _points(stored))
