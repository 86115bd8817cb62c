"""The SQL sandbox bounds a result's size in bytes (``sql.max_result_mb``), not only its rows.

Every query here is small enough for a test machine: the bound is set to 1 MB, except once to
show the 100 MB default, which the dashboard relies on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from store_helpers import cli

from storage.errors import SandboxError
from storage.sandbox import run_sandboxed
from storage.store import MetricStore

SIZE_MESSAGE = (
    "query stopped: the result is larger than {mb} MB (sql.max_result_mb): "
    "select fewer rows or columns, or aggregate in the query"
)


@pytest.fixture
def db(store: MetricStore) -> Path:
    """A real database file with the schema (the queries make their own rows)."""
    return store.path


@pytest.mark.parametrize(
    "sql",
    [
        # The shapes of the reported queries, with values a hundredth as long: many rows of long
        # strings within the row cap, and one huge value.
        "SELECT repeat('x', 1000) AS s FROM range(10000)",
        "SELECT repeat('x', 5000000) AS s",
        # Plain numbers, and a nested value, are counted as well.
        "SELECT range AS a, range * 2 AS b FROM range(100000)",
        "SELECT list(range) AS l FROM range(300000)",
    ],
)
def test_a_result_over_the_size_bound_stops_with_one_line_naming_the_setting(db: Path, sql: str) -> None:
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(db, sql, row_limit=100_000, max_result_mb=1)
    assert str(caught.value) == SIZE_MESSAGE.format(mb=1)


def test_the_size_bound_is_100_mb_unless_told_otherwise(db: Path) -> None:
    # 101 values of 1 MB each: 101 rows, far inside the row cap, just over the default bound.
    with pytest.raises(SandboxError, match=r"larger than 100 MB \(sql\.max_result_mb\)"):
        run_sandboxed(db, "SELECT repeat('x', 1000000) AS s FROM range(101)")


def test_a_result_just_under_the_bound_comes_back_whole(db: Path) -> None:
    # 1,000 rows of a number and 980 bytes of text, with the strings' offsets: about 992 KB,
    # under the 1 MB (1,000,000 bytes, as DuckDB's memory_limit counts an MB).
    result = run_sandboxed(db, "SELECT range AS i, repeat('x', 980) AS s FROM range(1000)", max_result_mb=1)
    assert result.frame.height == 1000 and not result.truncated
    assert result.frame["i"].to_list() == list(range(1000))
    assert set(result.frame["s"].str.len_bytes().to_list()) == {980}
    # Thirty bytes more per row: about 1,022 KB, over it.
    with pytest.raises(SandboxError, match="larger than 1 MB"):
        run_sandboxed(db, "SELECT range AS i, repeat('x', 1010) AS s FROM range(1000)", max_result_mb=1)


def test_the_row_cap_still_cuts_and_flags_before_the_size_bound(db: Path) -> None:
    # 100,000 rows of 100 bytes would be 10 MB; the row cap keeps 5,000 (0.5 MB) and says so.
    result = run_sandboxed(
        db, "SELECT repeat('x', 100) AS s FROM range(100000)", row_limit=5000, max_result_mb=1
    )
    assert result.frame.height == 5000 and result.truncated and result.row_limit == 5000


def test_the_time_limit_still_stops_a_query_whose_rows_come_slowly(db: Path) -> None:
    # A row now and then from a scan of ten billion: the result is read while DuckDB computes it,
    # and the timer stops the reading, not only the first batch.
    sql = "SELECT range FROM range(10000000000) WHERE range % 2000000000 = 0"
    with pytest.raises(SandboxError, match="time limit of 1s"):
        run_sandboxed(db, sql, timeout_s=1.0, max_result_mb=1)
    # Each query has its own DuckDB instance: the next one runs as usual.
    assert run_sandboxed(db, "SELECT 42 AS a").frame["a"].to_list() == [42]


def test_duckdbs_arrow_string_overflow_is_reported_as_the_size_bound(db: Path) -> None:
    # A batch with more than 2 GiB of strings fails in DuckDB's Arrow appender (with a hint to a
    # setting the sandbox refuses). Making one needs gigabytes, so the captured message of
    # `SELECT repeat('x', 300000) FROM range(10000)` (DuckDB 2.0.1) is raised by a query.
    captured = (
        "Invalid Input Error: Arrow Appender: The maximum total string size for regular string "
        "buffers is 2147483647 but the offset of 2147700000 exceeds this."
    )
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(db, f"SELECT error('{captured}')", max_result_mb=100)
    assert str(caught.value) == SIZE_MESSAGE.format(mb=100)


def test_other_errors_keep_their_text(db: Path) -> None:
    # Only the appender's overflow is taken for the size bound.
    with pytest.raises(SandboxError, match=r"^Invalid Input Error: boom$"):
        run_sandboxed(db, "SELECT error('boom')")


def test_the_cli_stops_an_oversized_result_with_one_line(db: Path, tmp_path: Path) -> None:
    env = {"FLEXT_QUALITY_SQL__MAX_RESULT_MB": "1"}
    done = cli("--db", str(db), "sql", "SELECT repeat('x', 2000) FROM range(10000)", "--format", "csv",
               cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == ["error: " + SIZE_MESSAGE.format(mb=1)]
    # From the settings file as well, and a result under the bound is printed whole.
    (tmp_path / "flext-quality.toml").write_text("[sql]\nmax_result_mb = 1\n", encoding="utf-8")
    over = cli("--db", str(db), "sql", "SELECT repeat('x', 500000) UNION ALL SELECT repeat('y', 600000)",
               cwd=tmp_path)
    assert over.returncode == 1 and "larger than 1 MB (sql.max_result_mb)" in over.stderr
    whole = cli("--db", str(db), "sql", "SELECT range AS i, repeat('x', 80) AS s FROM range(10000)",
                "--format", "csv", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    lines = whole.stdout.splitlines()
    assert lines[0] == "i,s" and len(lines) == 10_001 and lines[-1] == "9999," + "x" * 80
    assert whole.stderr == ""


@pytest.mark.parametrize(
    ("env", "toml", "value", "allowed"),
    [
        ({"FLEXT_QUALITY_SQL__MAX_RESULT_MB": "0"}, None, "'0'", "greater than or equal to 1"),
        ({"FLEXT_QUALITY_SQL__MAX_RESULT_MB": "lots"}, None, "'lots'", "valid integer"),
        ({}, "[sql]\nmax_result_mb = 5000\n", "5000", "less than or equal to 2048"),
        ({}, "[sql]\nmax_result_mb = -1\n", "-1", "greater than or equal to 1"),
    ],
)
def test_a_bad_size_bound_stops_with_one_line(
    tmp_path: Path, env: dict[str, str], toml: str | None, value: str, allowed: str
) -> None:
    if toml is not None:
        (tmp_path / "flext-quality.toml").write_text(toml, encoding="utf-8")
    done = cli("--db", str(tmp_path / "x.duckdb"), "migrate", cwd=tmp_path, env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"invalid setting sql.max_result_mb={value}" in lines[0] and allowed in lines[0], lines[0]
    assert not (tmp_path / "x.duckdb").exists()
