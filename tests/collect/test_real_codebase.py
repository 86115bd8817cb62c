"""Exact counts on real codebases nobody here wrote: the released sources (sdists) of rich 15.0.0
(100 files) and Pygments 2.19.2 (399 files, 133,000 lines).

The sdist is downloaded once with ``pip download --no-deps --no-binary :all:`` into
``.cache/sdists`` (kept between runs). Every tool's stored count must equal what its
recorded command prints when run again by hand in the project root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from collect_support import REPO, rerun

from collectors.base import CollectOptions
from collectors.pipeline import collect
from storage.store import MetricStore

#: (package, version, at least this many .py files)
PACKAGES = (("rich", "15.0.0", 100), ("pygments", "2.19.2", 300))
CACHE = REPO / ".cache" / "sdists"


def pip_command() -> list[str]:
    """A pip that can download: this interpreter's, the Makefile's uv-tool venv, or PATH's."""
    if (
        subprocess.run(
            [sys.executable, "-m", "pip", "--version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [sys.executable, "-m", "pip"]
    for candidate in (REPO / ".cache" / "uv-tool" / "bin" / "pip", shutil.which("pip3"), shutil.which("pip")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    pytest.fail("no pip found to download the sdist")


def real_project(tmp_path: Path, package: str, version: str) -> Path:
    archive = CACHE / f"{package}-{version}.tar.gz"
    if not archive.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                *pip_command(),
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{package}=={version}",
                "-d",
                str(CACHE),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / f"{package}-{version}"


@pytest.mark.slow
@pytest.mark.parametrize(("package", "version", "min_files"), PACKAGES, ids=[p[0] for p in PACKAGES])
def test_exact_counts_on_a_real_codebase(
    tmp_path: Path, options_for: Callable[..., CollectOptions], package: str, version: str, min_files: int
) -> None:
    project = real_project(tmp_path, package, version)
    tools = ["ruff", "mypy", "bandit", "complexity", "suppressions", "coverage"]
    result = collect(project, project=package, tools=tools, options=options_for())
    statuses = {t.tool: t.status for t in result.tools}
    assert statuses == {**dict.fromkeys(tools, "succeeded"), "coverage": "skipped"}
    assert result.run.status == "succeeded"
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)
    measures = dict(store.fetch("SELECT metric, value FROM measures WHERE run_id = ?", [run_id]))
    commands = dict(store.fetch("SELECT tool, command FROM tool_runs WHERE run_id = ?", [run_id]))
    files = store.fetch("SELECT files FROM tool_runs WHERE run_id = ? AND tool = 'ruff'", [run_id])[0][0]
    assert files == len(list(project.rglob("*.py"))) >= min_files

    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = dict(
            zip(
                ("ruff", "mypy", "bandit", "complexity"),
                pool.map(
                    lambda t: rerun(commands[t], project).stdout, ("ruff", "mypy", "bandit", "complexity")
                ),
                strict=True,
            )
        )

    def stored_findings(tool: str, where: str = "true") -> int:
        return int(
            store.fetch(
                f"SELECT count(*) FROM findings WHERE run_id = ? AND tool = ? AND {where}", [run_id, tool]
            )[0][0]
        )

    assert measures["ruff.issues"] == len(json.loads(outputs["ruff"])) == stored_findings("ruff") > 0
    mypy_errors = [
        e
        for line in outputs["mypy"].splitlines()
        if line.strip()
        for e in [json.loads(line)]
        if e["severity"] == "error"
    ]
    assert measures["mypy.errors"] == len(mypy_errors) == stored_findings("mypy")
    bandit = json.loads(outputs["bandit"])
    assert (
        measures["bandit.issues"]
        == len(bandit["results"])
        == stored_findings("bandit", "severity <> 'error'")
        > 0
    )
    worker = json.loads(outputs["complexity"])
    # Files the worker could not parse (Pygments ships Python 2 example files) report an error.
    parsed = [r for r in worker.values() if "error" not in r]
    assert measures["complexity.functions"] == sum(len(r["functions"]) for r in parsed)
    assert measures["size.loc"] == sum(r["raw"]["loc"] for r in parsed) > 30_000
    assert "coverage.line_percent" not in measures
