"""The DuckDB file cache and its FileCache wrapper, on real database files."""

from __future__ import annotations

from pathlib import Path

from collectors.cache import FileFinding, PerFileResult
from collectors.stored_cache import StoredFileCache, layout_contexts
from storage.blob_cache import BlobCache
from storage.store import MetricStore


def _result(n: int) -> PerFileResult:
    finding = FileFinding(
        rule="F401", severity="warning", line=n, col=1, message="unused", anchor="import os"
    )
    return PerFileResult(findings=(finding,), numbers={"loc": float(n)})


def test_bulk_round_trip_and_keys(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    cache = BlobCache(store)
    assert cache.get_many("ruff", "1", "h", ["a"]) == {}  # no file yet: nothing, no error
    payloads = {f"sha{i}": f'{{"n": {i}}}' for i in range(5000)}
    cache.put_many("ruff", "1", "h", payloads)
    again = BlobCache(store)
    got = again.get_many("ruff", "1", "h", [*payloads, "unknown"])
    assert got == payloads
    assert again.stats.hits == 5000 and again.stats.misses == 1
    # every part of the key matters
    assert again.get_many("ruff", "2", "h", ["sha1"]) == {}
    assert again.get_many("ruff", "1", "other", ["sha1"]) == {}
    assert again.get_many("bandit", "1", "h", ["sha1"]) == {}
    # storing an existing key keeps the first value and adds no row
    again.put_many("ruff", "1", "h", {"sha1": '{"n": -1}', "new": "{}"})
    assert again.get_many("ruff", "1", "h", ["sha1"]) == {"sha1": '{"n": 1}'}
    assert again.count() == 5001


def test_stored_cache_round_trips_results_across_instances(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    first = StoredFileCache(BlobCache(store))
    first.put_many("bandit", "1.9", "c", {"s1": _result(1), "s2": _result(2)})
    second = StoredFileCache(BlobCache(store))
    got = second.get_many("bandit", "1.9", "c", ["s1", "s2", "s3"])
    assert got == {"s1": _result(1), "s2": _result(2)}
    # served from memo afterwards: no more database hits
    before = second.stats.hits
    assert second.get_many("bandit", "1.9", "c", ["s1"]) == {"s1": _result(1)}
    assert second.stats.hits == before


def test_context_tools_are_keyed_by_layout(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    cache = StoredFileCache(BlobCache(store))
    # without a tree (plain collect) ruff is never cached: exact by construction
    cache.put_many("ruff", "0.17", "c", {"s1": _result(1)})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1"})
    cache.put_many("ruff", "0.17", "c", {"s1": _result(1)})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {"s1": _result(1)}
    # same layout in a later commit with other files' contents changed: still a hit
    cache.use_tree({"pkg/__init__.py": "e2", "pkg/m.py": "s1", "README.md": "s9"})
    assert "s1" in cache.get_many("ruff", "0.17", "c", ["s1"])
    # a module appeared elsewhere (`from pkg.n import x` may turn first-party): a miss
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", "pkg/n.py": "s9"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # a folder appeared (a namespace package for isort), or a nested ruff configuration: misses
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", "data/x.csv": "s8"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", "pkg/ruff.toml": "s7"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # a symlink anywhere: nothing is cached for ruff in that layout
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", "link": "s6"}, symlinks=["link"])
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # hidden folders and virtual environments are not part of the layout
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", ".git/x.py": "s5",
                    "env2/pyvenv.cfg": "s4", "env2/lib/y.py": "s3"})
    assert "s1" in cache.get_many("ruff", "0.17", "c", ["s1"])
    # the package lost its __init__.py (INP001 may now fire): a miss
    cache.use_tree({"pkg/m.py": "s1"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # renamed: a miss (per-file-ignores depend on the path)
    cache.use_tree({"pkg/__init__.py": "e", "pkg/renamed.py": "s1"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # the same blob at two paths: not cached for this commit at all
    cache.use_tree({"pkg/__init__.py": "e", "pkg/m.py": "s1", "other/m.py": "s1"})
    assert cache.get_many("ruff", "0.17", "c", ["s1"]) == {}
    # bandit does not depend on layout
    cache.put_many("bandit", "1", "c", {"s1": _result(3)})
    cache.use_tree({"elsewhere.py": "s1"})
    assert cache.get_many("bandit", "1", "c", ["s1"]) == {"s1": _result(3)}


def test_layout_context_sees_every_module_path() -> None:
    before = layout_contexts(["app/__init__.py", "app/x.py", "tests/test_x.py"])
    after = layout_contexts(["app/__init__.py", "app/x.py", "tests/test_x.py", "lib.py"])
    deeper = layout_contexts(["app/__init__.py", "app/x.py", "app/y.py", "tests/test_x.py"])
    content = layout_contexts({"app/__init__.py": "a", "app/x.py": "b", "tests/test_x.py": "c"})
    assert before["app/x.py"] != after["app/x.py"]  # isort may now see `lib` as first-party
    assert before["app/x.py"] != deeper["app/x.py"]  # ... or `app.y` (full module path)
    assert before["app/x.py"] == content["app/x.py"]  # other files' contents do not count


def test_concurrent_use_from_analyzer_threads(tmp_path: Path) -> None:
    # collect asks the cache from one thread per analyzer; DuckDB allows one open connection
    # to a file per process at a time, so the cache must serialise its own access.
    from concurrent.futures import ThreadPoolExecutor

    store = MetricStore(tmp_path / "q.duckdb")
    cache = BlobCache(store)
    cache.put_many("t", "1", "c", {"seed": "{}"})

    def work(n: int) -> int:
        cache.put_many(f"t{n % 4}", "1", "c", {f"s{n}": f'{{"n": {n}}}'})
        return len(cache.get_many(f"t{n % 4}", "1", "c", [f"s{n}", "seed"]))

    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(work, range(40)))
    assert found == [1] * 40
    assert cache.count() == 41


def test_deferred_puts_are_written_once_at_the_end_even_after_an_error(tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    blobs = BlobCache(store)
    cache = StoredFileCache(blobs)
    try:
        with cache.deferred():
            cache.put_many("bandit", "1.9", "c", {"s1": _result(1)})
            cache.put_many("complexity", "6", "c", {"s1": _result(2), "s2": _result(3)})
            assert blobs.count() == 0  # nothing written yet
            assert cache.get_many("bandit", "1.9", "c", ["s1"]) == {"s1": _result(1)}  # memo
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert blobs.count() == 3
    fresh = StoredFileCache(BlobCache(store))
    assert fresh.get_many("complexity", "6", "c", ["s1", "s2"]) == {"s1": _result(2), "s2": _result(3)}
    assert fresh.get_many("bandit", "1.9", "c", ["s2"]) == {}
