"""Rollup rows of a bulk load, computed in memory (numpy and polars), without the database.

A bulk load (``MetricStore.ingest_points``: imports, generated data) brings millions of
points at once. Their day, week and month rollup rows are computed here in one sort and a
few passes over sorted arrays, while DuckDB writes the raw points; :mod:`storage.rollups`
then merges them into the tables. Nothing here touches a connection, so it can run in a
worker thread (polars and numpy release the GIL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["BulkAggregates", "bulk_aggregates"]


_DAY_US = 86_400_000_000


def _week_start(days: np.ndarray) -> np.ndarray:
    # Day 0 (1970-01-01) was a Thursday: (d + 3) % 7 is 0 on Mondays.
    start: np.ndarray = days - (days + 3) % 7
    return start


def _month_start(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype("int64")


def _frame(cols: dict[str, np.ndarray]) -> pl.DataFrame:
    frame = pl.DataFrame(cols)
    return frame.with_columns(
        pl.col("series_id").cast(pl.Int32),
        (pl.col("bucket") * _DAY_US).cast(pl.Datetime("us")),
        pl.col("last_ts").cast(pl.Datetime("us")),
    )


@dataclass(frozen=True, slots=True)
class BulkAggregates:
    """What a bulk load adds besides its raw points: new series ids and the rollup rows."""

    new_series: pl.DataFrame  # series_id, project, metric: pairs seen for the first time
    grains: dict[str, pl.DataFrame]  # day/week/month rows sorted by (series_id, bucket)


# Above this many (project x metric) combinations, ids are found by binary search instead of
# a lookup table indexed by the pair's rank.
_DENSE_PAIRS = 1 << 24


def _series_ids(points: pl.DataFrame, known: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
    """The series id of every point, and the pairs that need a new id.

    New pairs get the next ids in (project, metric) order, as :func:`ensure_series` gives
    them. No join on the two strings: each column is cast to an Enum of its sorted distinct
    values, so a pair is the integer ``project rank * metrics + metric rank``, which also
    sorts like (project, metric).
    """
    names = [points.get_column(c).unique().drop_nulls().sort() for c in ("project", "metric")]
    project_rank, metric_rank = (
        points.get_column(c).cast(pl.Enum(n)).to_physical().cast(pl.Int64).to_numpy()
        for c, n in zip(("project", "metric"), names, strict=True)
    )
    width = len(names[1])
    pair = project_rank * width + metric_rank
    span = len(names[0]) * width
    present = (np.flatnonzero(np.bincount(pair, minlength=span)) if span <= _DENSE_PAIRS
               else np.unique(pair))
    pairs = pl.DataFrame({
        "project": names[0].gather(present // width),
        "metric": names[1].gather(present % width),
    }).join(known, on=["project", "metric"], how="left", maintain_order="left")
    ids = pairs.get_column("series_id").cast(pl.Int64).to_numpy().copy()
    missing = pairs.get_column("series_id").is_null().to_numpy()
    first = int(known.get_column("series_id").to_numpy().max()) + 1 if known.height else 1
    ids[missing] = np.arange(first, first + int(missing.sum()))
    fresh = pl.DataFrame({"series_id": ids[missing].astype("int32"),
                          "project": pairs.get_column("project").filter(pl.Series(missing)),
                          "metric": pairs.get_column("metric").filter(pl.Series(missing))})
    if span <= _DENSE_PAIRS:
        lookup = np.zeros(span, "int64")
        lookup[present] = ids
        return lookup[pair], fresh
    return ids[np.searchsorted(present, pair)], fresh


def bulk_aggregates(points: pl.DataFrame, known: pl.DataFrame) -> BulkAggregates:
    """Day, week and month rollup rows of ``points`` (ts, project, metric, value), sorted.

    ``known`` is the ``series`` table as it stands (series_id, project, metric); pairs not in
    it get new ids (returned, for the caller to store). One sort by (series, time), then each
    grain is a single pass over runs of equal keys (numpy ``reduceat``): no hash table, and
    the rows come out in clustered order. Runs in a worker thread during the raw insert
    (polars and numpy release the GIL), so it must not touch the database.
    """
    if points.height == 0:
        return BulkAggregates(known.clear(), {})
    sid, fresh = _series_ids(points, known)
    ts = points.get_column("ts").cast(pl.Datetime("us")).cast(pl.Int64).to_numpy()
    value = points.get_column("value").cast(pl.Float64).to_numpy()
    span = int(ts.max()) - int(ts.min()) + 1
    if (int(sid.max()) - int(sid.min()) + 1) * span < 2**62:
        # One int64 key sorts fastest: series, then time.
        key = (sid - sid.min()) * span + (ts - ts.min())
        order = pl.Series(key).arg_sort().to_numpy()
    else:
        order = pl.DataFrame({"s": sid, "t": ts}).select(pl.arg_sort_by("s", "t")).to_series().to_numpy()
    sid, ts, value = sid[order], ts[order], value[order]
    days = ts // _DAY_US
    new_series = sid[1:] != sid[:-1]
    starts = np.flatnonzero(np.r_[True, new_series | (days[1:] != days[:-1])])
    if len(starts) == len(sid):
        # At most one point per series and day (one run a day, the common case): the sorted
        # points are the day rows themselves.
        day = {
            "series_id": sid, "bucket": days, "min_value": value, "max_value": value,
            "sum_value": value, "n": np.ones(len(sid), "int64"), "last_ts": ts, "last_value": value,
        }
    else:
        # Points of one series at the same time: the last value is the largest of them.
        tie_start = np.r_[True, new_series | (ts[1:] != ts[:-1])]
        tie_max = np.maximum.reduceat(value, np.flatnonzero(tie_start))
        tie_of_row = np.cumsum(tie_start) - 1
        ends = np.r_[starts[1:], len(sid)] - 1
        day = {
            "series_id": sid[starts], "bucket": days[starts],
            "min_value": np.minimum.reduceat(value, starts),
            "max_value": np.maximum.reduceat(value, starts),
            "sum_value": np.add.reduceat(value, starts),
            "n": np.diff(np.r_[starts, len(sid)]),
            "last_ts": ts[ends], "last_value": tie_max[tie_of_row[ends]],
        }
    out = {"day": _frame(day)}
    # Week and month starts through a table over the day range (a few thousand entries), so
    # the per-row work is one gather instead of date arithmetic on every row.
    first_day = int(day["bucket"].min())
    span_days = np.arange(first_day, int(day["bucket"].max()) + 1)
    offsets = day["bucket"] - first_day
    for grain, start_of in (("week", _week_start), ("month", _month_start)):
        bucket = start_of(span_days)[offsets]
        d_sid = day["series_id"]
        starts = np.flatnonzero(np.r_[True, (d_sid[1:] != d_sid[:-1]) | (bucket[1:] != bucket[:-1])])
        # Days are in time order inside a series: a group's last day holds its last value.
        ends = np.r_[starts[1:], len(d_sid)] - 1
        out[grain] = _frame({
            "series_id": d_sid[starts], "bucket": bucket[starts],
            "min_value": np.minimum.reduceat(day["min_value"], starts),
            "max_value": np.maximum.reduceat(day["max_value"], starts),
            "sum_value": np.add.reduceat(day["sum_value"], starts),
            "n": np.add.reduceat(day["n"], starts),
            "last_ts": day["last_ts"][ends], "last_value": day["last_value"][ends],
        })
    return BulkAggregates(fresh, out)
