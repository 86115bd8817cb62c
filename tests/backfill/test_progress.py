"""Progress events, the estimate of the time left, and what an interrupt leaves behind.

The clock is injected: it moves only where a test says time passes (in ``collect`` and while
a chunk's batch analysis runs), so every estimate can be checked against the time that was
really left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from collectors.backfill import (
    BackfillInterrupted,
    BackfillProgress,
    BackfillRequest,
    CollectFn,
    backfill,
)
from collectors.backfill_types import Pace
from collectors.base import CollectOptions
from collectors.gitwalk import Commit
from collectors.pipeline import collect
from collectors.registry import ADAPTERS
from storage.models import RunResult
from storage.store import MetricStore

from .gitrepo import GitRepo


class FakeClock:
    """A monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _slow(clock: FakeClock, seconds: float, *, interrupt_at: int | None = None) -> CollectFn:
    """The real collect, taking ``seconds`` of the fake clock per commit.

    With ``interrupt_at`` the n-th call is where Ctrl-C arrives.
    """
    calls = 0

    def slow_collect(path: Path, **kwargs: Any) -> RunResult:
        nonlocal calls
        calls += 1
        if calls == interrupt_at:
            raise KeyboardInterrupt
        clock.now += seconds
        return collect(path, **kwargs)

    return slow_collect


def _request(tmp_path: Path, **extra: Any) -> BackfillRequest:
    # flush_s is large so that runs are stored in bursts at the end of each chunk, the case
    # where an estimate taken at storing time went wrong
    return BackfillRequest(
        project="planted", tools=("ruff", "complexity"), flush_s=1e9,
        options=CollectOptions(allowed_roots=(tmp_path,), concurrency=2), **extra,
    )


def test_pace_leaves_out_the_first_commit_and_shares_each_batch() -> None:
    clock = FakeClock()
    pace = Pace(total=6, clock=clock)
    assert pace.eta_s() is None  # nothing analysed yet: no estimate, not 0
    # two chunks of 3 commits: each a 6 s batch analysis, then 1 s per commit, except the
    # very first commit, which takes 10 s (the whole tree checked out, cold caches)
    clock.now += 6 + 10
    assert pace.analysed(prepaid_s=4.0) is None  # one commit is no pace yet
    clock.now += 1
    assert pace.analysed(prepaid_s=2.0) == pytest.approx(10.0)  # 1 s, then 6 s + 3 x 1 s
    clock.now += 1
    assert pace.analysed() == pytest.approx(9.0)
    clock.now += 6  # the second chunk's batch analysis: the estimate stands meanwhile
    assert pace.eta_s() == pytest.approx(9.0)
    clock.now += 1
    assert pace.analysed(prepaid_s=4.0) == pytest.approx(2.0)
    clock.now += 1
    assert pace.analysed(prepaid_s=2.0) == pytest.approx(1.0)
    clock.now += 1
    assert pace.analysed() == 0.0


@pytest.mark.parametrize(("seconds", "total", "prepaid_s", "eta"), [
    ([5.0, 2.0], 12, 0.0, 20.0),  # the pace of the second commit, not of the first
    ([5.0, 2.0, 4.0], 5, 0.0, 6.0),  # the mean of the commits after the first
    ([1.0, 1.0], 3, 5.0, 0.0),  # never negative
    ([3.0], 1, 0.0, 0.0),  # all done
    ([], 0, 0.0, 0.0),  # nothing to do
])
def test_pace_estimates(seconds: list[float], total: int, prepaid_s: float, eta: float) -> None:
    clock = FakeClock()
    pace = Pace(total=total, clock=clock)
    for step in seconds:
        clock.now += step
        pace.analysed(prepaid_s=prepaid_s)
    assert pace.eta_s() == pytest.approx(eta)


def test_resumed_run_counts_only_its_own_commits(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    store = MetricStore(tmp_path / "q.duckdb")
    first = backfill(repo.root, _request(tmp_path, ref=shas[2]), store=store, collect=collect)
    assert first.stored == 3

    clock = FakeClock()
    events: list[BackfillProgress] = []
    summary = backfill(
        repo.root, _request(tmp_path), store=store, collect=_slow(clock, 2.0),
        on_progress=events.append, clock=clock,
    )
    assert (summary.skipped, summary.stored) == (3, 3)
    assert {e.total for e in events} == {3}  # the skipped commits are in no count
    assert events[0].done == 0 and events[0].eta_s is None
    stored = [(e.done, e.commit.sha if e.commit else None, e.eta_s) for e in events if e.done]
    # all three runs are stored together at the end of the chunk; each estimate is the time
    # that was left when that commit was analysed (2 s per commit), not the time at storing;
    # one commit is no pace yet
    assert stored == [(1, shas[3], None), (2, shas[4], 2.0), (3, shas[5], 0.0)]


def test_batch_analysis_is_shared_by_its_chunk(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    clock = FakeClock()
    events: list[BackfillProgress] = []

    def on_progress(event: BackfillProgress) -> None:
        events.append(event)
        if event.activity is not None:
            clock.now += 6.0  # the batch analysis of a chunk takes 6 s

    summary = backfill(
        repo.root, _request(tmp_path, chunk=3), store=MetricStore(tmp_path / "q.duckdb"),
        collect=_slow(clock, 1.0), adapters=[ADAPTERS["ruff"], ADAPTERS["complexity"]],
        on_progress=on_progress, clock=clock,
    )
    assert summary.stored == len(shas)
    # while a batch analysis runs, the display keeps the last estimate (not 0)
    assert [(e.done, e.activity, e.eta_s) for e in events if e.activity] == [
        (0, "analysing changed files of commits 1-3", None),
        (3, "analysing changed files of commits 4-6", pytest.approx(9.0)),
    ]
    # 6 s batch + 3 x 1 s per chunk, two chunks: the whole run takes 18 s on this clock, and
    # commit n is analysed at 7, 8, 9, 16, 17, 18 s; the estimate is exactly the time left
    # (from the second commit on: one commit is no pace)
    assert clock.now == 18.0
    etas = [e.eta_s for e in events if e.commit is not None]
    assert etas[0] is None
    assert etas[1:] == pytest.approx([10.0, 9.0, 2.0, 1.0, 0.0])


def test_single_commit_chunk_names_one_commit(planted: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, _ = planted
    events: list[BackfillProgress] = []
    backfill(
        repo.root, _request(tmp_path, chunk=4, max_commits=5), store=MetricStore(tmp_path / "q.duckdb"),
        collect=collect, adapters=[ADAPTERS["ruff"]], on_progress=events.append,
    )
    assert [e.activity for e in events if e.activity] == [
        "analysing changed files of commits 1-4", "analysing changed files of commit 5",
    ]


def test_interrupt_while_storing_counts_every_stored_run(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    store = MetricStore(tmp_path / "q.duckdb")
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def ctrl_c_after_second(count: int, _commit: Commit) -> None:
        if count == 2:
            raise KeyboardInterrupt

    with pytest.raises(BackfillInterrupted) as caught:
        backfill(repo.root, _request(tmp_path, chunk=4), store=store, collect=collect,
                 on_stored=ctrl_c_after_second, tmp_root=scratch)
    assert isinstance(caught.value, KeyboardInterrupt)  # an interrupt to whoever does not know it
    # the four runs of the first chunk were written together before the second was announced
    assert caught.value.summary.stored == 4
    assert [r[0] for r in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")] == shas[:4]
    assert list(scratch.iterdir()) == []


def test_interrupt_while_analysing_stores_the_analysed_runs(
    planted: tuple[GitRepo, list[str]], tmp_path: Path
) -> None:
    repo, shas = planted
    store = MetricStore(tmp_path / "q.duckdb")
    clock = FakeClock()
    with pytest.raises(BackfillInterrupted) as caught:
        backfill(repo.root, _request(tmp_path), store=store, collect=_slow(clock, 1.0, interrupt_at=3),
                 clock=clock)
    summary = caught.value.summary
    assert (summary.selected, summary.stored, summary.run_ids) == (
        6, 2, [r[0] for r in store.fetch("SELECT run_id FROM runs ORDER BY committed_at")],
    )
    assert [r[0] for r in store.fetch("SELECT commit_sha FROM runs ORDER BY committed_at")] == shas[:2]
