"""Exactness of ruff results that depend on the rest of the project's module layout.

ruff's isort decides whether ``from core.extra import z`` is first-party by looking for
``core/extra.py`` (the full module path, not only ``core/``), and a nested ``ruff.toml``
replaces the root configuration for the files under it. A batched (prewarmed) backfill must
therefore see the commit's whole module layout and configuration files, and a cached result
must not be served once a module appears elsewhere in the project.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from collectors.backfill import BackfillRequest, backfill
from collectors.base import CollectOptions
from collectors.discovery import discover_files
from collectors.pipeline import collect
from collectors.registry import ADAPTERS
from collectors.stored_cache import StoredFileCache
from storage.blob_cache import BlobCache
from storage.store import MetricStore

from .conftest import checkout_copy, fresh_snapshot, stored_snapshot
from .gitrepo import GitRepo

T0 = datetime(2024, 5, 6, 9, 0)
TOOLS = ("ruff", "complexity")

PYPROJECT = """[project]
name = "layered"
version = "0.1"

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["F", "E", "I"]
"""
# files under legacy/ follow this configuration instead of the root one
LEGACY_RUFF = """line-length = 40

[lint]
select = ["E501"]
"""
MODELS = "class Thing:\n    pass\n"
ERRORS = "class Oops(Exception):\n    pass\n"
# first-party `core.errors` and `core.models` next to the file's own package: sorted only
# when both `core` modules exist as files
API = """from __future__ import annotations

import json

from core.errors import Oops
from core.models import Thing
from service.helpers import helper


def handle(text: str) -> Thing:
    if not text:
        raise Oops(json.dumps(helper()))
    return Thing()
"""
HELPERS = "def helper() -> dict[str, int]:\n    return {}\n"
# `core.extra` is third-party until core/extra.py exists: unsorted before, sorted after
RUN = """import os

from core.extra import z
from core.models import Thing


def main() -> object:
    return os.environ, z, Thing
"""
LEGACY = 'NAME = "a value long enough to pass forty columns"\n'


def _plant(root: Path) -> tuple[GitRepo, list[str]]:
    repo = GitRepo(root)
    day = timedelta(days=1)
    shas = [
        repo.commit("start", T0, {
            "pyproject.toml": PYPROJECT, "core/__init__.py": "", "core/models.py": MODELS,
            "core/errors.py": ERRORS, "service/__init__.py": "", "service/api.py": API,
            "service/helpers.py": HELPERS, "tools/run.py": RUN, "legacy/ruff.toml": LEGACY_RUFF,
            "legacy/mod.py": LEGACY,
        }),
        # only the importing file changes: the batch sees it without its neighbours' content
        repo.commit("touch api", T0 + day, {"service/api.py": API + "\nVERSION = 2\n"}),
        # a module appears; tools/run.py is unchanged but its imports become first-party
        repo.commit("add core.extra", T0 + 2 * day, {"core/extra.py": "z = 1\n"}),
        repo.commit("touch helpers", T0 + 3 * day, {"service/helpers.py": HELPERS + "\n\nX = 1\n"}),
        # the module goes away again: tools/run.py is unsorted once more
        repo.commit("drop core.extra", T0 + 4 * day, {"core/extra.py": None}),
    ]
    return repo, shas




def test_batched_backfill_sees_the_whole_module_layout(tmp_path: Path) -> None:
    repo, shas = _plant(tmp_path / "layered")
    options = CollectOptions(allowed_roots=(tmp_path,), concurrency=2)
    store = MetricStore(tmp_path / "q.duckdb")
    summary = backfill(
        repo.root, BackfillRequest(project="layered", tools=TOOLS, options=options, chunk=3),
        store=store, collect=collect, adapters=[ADAPTERS[t] for t in TOOLS],
    )
    assert summary.stored == len(shas) and summary.failed == 0
    assert summary.files_cached > 0
    unsorted_run: list[bool] = []
    for index, sha in enumerate(shas):
        copy = checkout_copy(repo, sha, tmp_path / f"fresh{index}")
        plain = collect(copy, project="layered", tools=TOOLS, options=options)
        assert stored_snapshot(store, sha) == fresh_snapshot(plain), (
            f"commit {index} differs from a fresh collect"
        )
        # collect of the same checkout served from the cache the backfill filled: still exact
        cache = StoredFileCache(BlobCache(store))
        cache.use_directory(copy, discover_files(copy))
        served = collect(copy, project="layered", tools=TOOLS, options=options, file_cache=cache)
        assert fresh_snapshot(served) == fresh_snapshot(plain), f"cached collect of commit {index} differs"
        paths = {(f.path, f.rule) for f in plain.findings}
        assert ("service/api.py", "I001") not in paths  # a checkout sorts these correctly
        assert ("legacy/mod.py", "E501") in paths  # the nested configuration applies
        unsorted_run.append(("tools/run.py", "I001") in paths)
    # the same tools/run.py blob is unsorted, sorted, sorted, unsorted with the layout
    assert unsorted_run == [True, True, False, False, True]
