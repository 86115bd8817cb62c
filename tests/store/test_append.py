"""append_run: one transaction per run, and re-appending a commit replaces it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from store_helpers import T0, counts, make_run, rollup_rows

from collectors.backfill import stored_commits
from storage.models import RunResult
from storage.store import MetricStore


def test_append_writes_every_part_of_a_run(store: MetricStore) -> None:
    store.append_run(make_run("p", "c1", {"ruff.issues": 3, "size.loc": 100}, findings=3))
    assert counts(store) == {
        "runs": 1, "tool_runs": 2, "measures": 2, "findings": 3,
        "measures_daily": 2, "measures_weekly": 2, "measures_monthly": 2,
    }
    command = store.fetch("SELECT command FROM tool_runs WHERE tool = 'ruff'")[0][0]
    assert json.loads(command) == ["ruff", "check", "."]
    assert store.fetch("SELECT name FROM metrics ORDER BY name") == [("ruff.issues",), ("size.loc",)]


def test_reappending_the_same_commit_changes_nothing(store: MetricStore) -> None:
    store.append_run(make_run("p", "c0", {"ruff.issues": 1}, T0 - timedelta(hours=1)))
    first = make_run("p", "c1", {"ruff.issues": 3, "size.loc": 100})
    store.append_run(first)
    before_counts, before_rollups = counts(store), rollup_rows(store)
    for _ in range(3):
        store.append_run(first)
    assert counts(store) == before_counts
    assert rollup_rows(store) == before_rollups


def test_a_new_run_of_the_same_commit_replaces_the_old_one(store: MetricStore) -> None:
    store.append_run(make_run("p", "c1", {"ruff.issues": 3, "old.metric": 1}, run_id="r1"))
    store.append_run(make_run("p", "c1", {"ruff.issues": 7}, run_id="r2", findings=1))
    assert store.fetch("SELECT run_id FROM runs") == [("r2",)]
    assert store.fetch("SELECT metric, value, run_id FROM measures") == [("ruff.issues", 7.0, "r2")]
    assert store.fetch("SELECT count(*) FROM findings")[0][0] == 1
    assert store.fetch("SELECT count(*) FROM tool_runs WHERE run_id = 'r1'")[0][0] == 0
    # The replaced run's rollup contributions are gone, including a metric it alone had.
    daily = store.fetch("SELECT metric, min_value, max_value, last_value, n FROM measures_daily")
    assert daily == [("ruff.issues", 7.0, 7.0, 7.0, 1)]


def _failed(run: RunResult, run_id: str) -> RunResult:
    """The same commit again, where every analyzer failed: nothing measured."""
    record = replace(run.run, run_id=run_id, status="failed")
    return replace(run, run=record, measures={}, findings=[], catalogue=[])


def test_a_failed_run_does_not_replace_the_commits_measured_run(store: MetricStore) -> None:
    good = make_run("p", "c1", {"ruff.issues": 3}, run_id="good")
    store.append_run(good)
    before = rollup_rows(store)
    assert store.replaced_run(_failed(good, "crash1").run) is None
    store.append_run(_failed(good, "crash1"))
    store.append_run(_failed(good, "crash2"))  # a failed retry replaces the failed attempt
    assert store.fetch("SELECT run_id, status FROM runs ORDER BY run_id") == [
        ("crash2", "failed"), ("good", "succeeded")]
    assert store.fetch("SELECT metric, value, run_id FROM measures") == [("ruff.issues", 3.0, "good")]
    assert store.fetch("SELECT count(*) FROM findings WHERE run_id = 'good'")[0][0] == 2
    assert rollup_rows(store) == before
    # a run that measures replaces both the measured run and the failed attempt
    again = make_run("p", "c1", {"ruff.issues": 5}, run_id="again")
    assert store.replaced_run(again.run) in ("good", "crash2")
    store.append_run(again)
    assert store.fetch("SELECT run_id FROM runs") == [("again",)]
    assert store.fetch("SELECT last_value, n FROM measures_daily") == [(5.0, 1)]


def test_other_commits_and_projects_are_untouched_by_a_replacement(store: MetricStore) -> None:
    store.append_run(make_run("p", "c1", {"m": 1}, T0))
    store.append_run(make_run("p", "c2", {"m": 5}, T0 + timedelta(hours=2)))
    store.append_run(make_run("q", "c1", {"m": 9}, T0))
    store.append_run(make_run("p", "c1", {"m": 3}, T0, run_id="again"))
    rows = store.fetch("SELECT project, commit_sha, value FROM measures ORDER BY ALL")
    assert rows == [("p", "c1", 3.0), ("p", "c2", 5.0), ("q", "c1", 9.0)]
    day = store.fetch(
        "SELECT project, min_value, max_value, mean_value, last_value, n FROM measures_daily ORDER BY ALL"
    )
    assert day == [("p", 3.0, 5.0, 4.0, 5.0, 2), ("q", 9.0, 9.0, 9.0, 9.0, 1)]


def test_runs_without_a_commit_accumulate_unless_the_run_id_repeats(store: MetricStore) -> None:
    store.append_run(make_run("p", None, {"m": 1}, T0, run_id="w1"))
    store.append_run(make_run("p", None, {"m": 2}, T0 + timedelta(minutes=5), run_id="w2"))
    store.append_run(make_run("p", None, {"m": 4}, T0 + timedelta(minutes=5), run_id="w2"))
    assert store.fetch("SELECT run_id, value FROM measures ORDER BY run_id") == [("w1", 1.0), ("w2", 4.0)]
    assert store.fetch("SELECT n, last_value FROM measures_daily") == [(2, 4.0)]


def test_a_failed_append_leaves_nothing(store: MetricStore) -> None:
    store.append_run(make_run("p", "c1", {"m": 1}))
    before = counts(store), rollup_rows(store)
    bad = make_run("p", "c1", {"m": 2}, run_id="dup-tools")
    bad.tools.append(bad.tools[0])  # (run_id, tool) is a primary key: the insert fails
    try:
        store.append_run(bad)
    except Exception as error:
        assert "run_id" in str(error) or "constraint" in str(error).lower()
    else:
        raise AssertionError("a duplicate tool record must fail the append")
    assert (counts(store), rollup_rows(store)) == before
    assert store.fetch("SELECT run_id FROM runs") == [("p-c1-2026-03-02T09:00:00",)]


def test_a_replacement_may_bring_a_new_metric(store: MetricStore) -> None:
    store.append_run(make_run("p", None, {"a": 0.0}, T0, run_id="w"))
    store.append_run(make_run("q", "c1", {"a": 0.0}, T0, run_id="r1"))
    store.append_run(make_run("q", "c1", {"a": 30.0, "b": 1.0}, T0, run_id="r2"))
    rows = store.fetch("SELECT project, metric, last_value, n FROM measures_daily ORDER BY ALL")
    assert rows == [("p", "a", 0.0, 1), ("q", "a", 30.0, 1), ("q", "b", 1.0, 1)]


def test_bulk_ingest_rollups_equal_a_rebuild_with_ties_and_shuffled_rows(store: MetricStore) -> None:
    import random

    import polars as pl

    rng = random.Random(3)
    rows = []
    for i in range(400):
        ts = T0 + timedelta(hours=rng.randrange(0, 24 * 70, 6))  # crosses weeks and a month
        rows.append((ts, rng.choice("pq"), rng.choice(("a", "b")), float(rng.randint(-5, 5)), f"r{i}", None))
    rng.shuffle(rows)
    points = pl.DataFrame(rows, schema=["ts", "project", "metric", "value", "run_id", "commit_sha"],
                          orient="row")
    assert store.ingest_points(points) == 400
    bulk = rollup_rows(store)
    store.rebuild_rollups()
    rebuilt = rollup_rows(store)
    for view, rows_ in bulk.items():
        assert [r[:5] + r[6:] for r in rows_] == [r[:5] + r[6:] for r in rebuilt[view]], view
    assert sum(r[-1] for r in bulk["measures_monthly"]) == 400


def test_append_runs_commits_each_run_on_its_own(store: MetricStore) -> None:
    good = make_run("p", "c1", {"m": 1}, T0)
    bad = make_run("p", "c2", {"m": 2}, T0 + timedelta(days=1), run_id="dup-tools")
    bad.tools.append(bad.tools[0])  # fails its own insert
    later = make_run("p", "c3", {"m": 3}, T0 + timedelta(days=2))
    try:
        store.append_runs([good, bad, later])
    except Exception as error:
        assert "constraint" in str(error).lower() or "run_id" in str(error)
    else:
        raise AssertionError("a duplicate tool record must fail its run")
    # the run before the failure is stored whole, the failed one not at all, none after it
    assert store.fetch("SELECT commit_sha FROM runs") == [("c1",)]
    assert store.fetch("SELECT metric, value FROM measures") == [("m", 1.0)]
    assert store.fetch("SELECT n, last_value FROM measures_daily") == [(1, 1.0)]
    assert store.append_runs([later, make_run("p", "c3", {"m": 4}, T0 + timedelta(days=2))])
    assert store.fetch("SELECT commit_sha, value FROM measures ORDER BY ts") == [("c1", 1.0), ("c3", 4.0)]


def test_bulk_ingest_keeps_known_series_ids_and_numbers_new_pairs_in_name_order(
    store: MetricStore,
) -> None:
    import polars as pl

    store.append_run(make_run("q", "c1", {"m1": 1.0, "m3": 2.0}, T0))
    known = {(p, m): i for i, p, m in store.fetch("SELECT series_id, project, metric FROM series")}
    rows = [(T0 + timedelta(days=d, hours=h), p, m, float(d * h), f"b{d}-{h}", None)
            for d in range(3) for h in (1, 5) for p in ("r", "q", "p") for m in ("m3", "m1", "m0")]
    points = pl.DataFrame(rows, schema=["ts", "project", "metric", "value", "run_id", "commit_sha"],
                          orient="row")
    assert store.ingest_points(points) == len(rows)
    after = {(p, m): i for i, p, m in store.fetch("SELECT series_id, project, metric FROM series")}
    assert {k: after[k] for k in known} == known  # ids never change
    fresh = sorted(k for k in after if k not in known)
    first = max(known.values()) + 1
    assert [after[k] for k in fresh] == list(range(first, first + len(fresh)))
    bulk = rollup_rows(store)
    store.rebuild_rollups()
    assert rollup_rows(store) == bulk
    assert store.ingest_points(points.clear()) == 0


def test_a_dirty_tree_neither_replaces_nor_is_replaced_by_its_commit(store: MetricStore) -> None:
    clean = make_run("p", "c1", {"ruff.issues": 525}, T0, run_id="clean")
    store.append_run(clean)
    later = T0 + timedelta(days=2)

    def dirty(run_id: str, value: float) -> RunResult:
        result = make_run("p", "c1", {"ruff.issues": value}, later, run_id=run_id)
        result.run = replace(result.run, dirty=True, committed_at=T0)
        return result

    store.append_run(dirty("wip-1", 527))
    store.append_run(dirty("wip-2", 530))  # collecting the dirty tree again replaces the dirty run
    rows = store.fetch("SELECT run_id, dirty FROM runs ORDER BY run_id")
    assert rows == [("clean", False), ("wip-2", True)]
    # the commit keeps its own value at its commit time; the dirty tree is a point at its run
    points = store.fetch("SELECT ts, value, run_id FROM measures ORDER BY ts")
    assert points == [(T0, 525.0, "clean"), (later, 530.0, "wip-2")]
    assert stored_commits(store, "p") == {"c1"}
    store.append_run(make_run("p", "c1", {"ruff.issues": 524}, T0, run_id="clean-again"))
    assert store.fetch("SELECT run_id FROM runs ORDER BY run_id") == [("clean-again",), ("wip-2",)]


def test_a_commit_with_only_a_dirty_run_is_still_to_backfill(store: MetricStore) -> None:
    result = make_run("p", "c9", {"ruff.issues": 1}, T0, run_id="wip")
    result.run = replace(result.run, dirty=True)
    store.append_run(result)
    assert stored_commits(store, "p") == set()
