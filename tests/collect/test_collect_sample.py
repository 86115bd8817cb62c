"""collect on the planted sample: exact counts, cache equivalence, fingerprints, the CLI."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from collect_support import ALL_TOOLS, git, rerun

from collectors.base import CollectOptions
from collectors.cache import MemoryFileCache
from collectors.pipeline import collect
from flext_quality.cli import main
from storage.queries import new_and_fixed
from storage.store import MetricStore

Options = Callable[..., CollectOptions]


def stored_counts(store: MetricStore, run_id: str) -> dict[str, float]:
    return dict(store.fetch("SELECT metric, value FROM measures WHERE run_id = ?", [run_id]))


def test_exact_counts_match_the_recorded_commands(sample: Path, options_for: Options, tmp_path: Path) -> None:
    result = collect(sample, project="sample", tools=ALL_TOOLS, options=options_for())
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)
    assert result.run.status == "succeeded"
    measures = stored_counts(store, run_id)
    tool_rows = {
        row[0]: row
        for row in store.fetch(
            "SELECT tool, status, command, tool_version, config_hash, files FROM tool_runs WHERE run_id = ?",
            [run_id],
        )
    }
    assert {t: r[1] for t, r in tool_rows.items()} == dict.fromkeys(ALL_TOOLS, "succeeded")
    assert all(r[3] and r[4] for r in tool_rows.values())

    def findings(tool: str, where: str = "true") -> int:
        return int(
            store.fetch(
                f"SELECT count(*) FROM findings WHERE run_id = ? AND tool = ? AND {where}", [run_id, tool]
            )[0][0]
        )

    ruff_out = json.loads(rerun(tool_rows["ruff"][2], sample).stdout)
    assert measures["ruff.issues"] == len(ruff_out) == findings("ruff")
    assert {e["code"] for e in ruff_out} == {"F841", "E711", "B006", "UP045", "E722"}  # planted

    mypy_out = [
        json.loads(line) for line in rerun(tool_rows["mypy"][2], sample).stdout.splitlines() if line.strip()
    ]
    mypy_errors = [e for e in mypy_out if e["severity"] == "error"]
    assert measures["mypy.errors"] == len(mypy_errors) == findings("mypy")
    assert {e["code"] for e in mypy_errors} == {"arg-type", "assignment", "index"}  # planted

    bandit_out = json.loads(rerun(tool_rows["bandit"][2], sample).stdout)
    assert (
        measures["bandit.issues"] == len(bandit_out["results"]) == findings("bandit", "severity <> 'error'")
    )
    for level in ("high", "medium", "low"):
        assert (
            measures[f"bandit.issues.{level}"]
            == bandit_out["metrics"]["_totals"][f"SEVERITY.{level.upper()}"]
        )
    assert {"B602", "B307", "B301", "B105"} <= {r["test_id"] for r in bandit_out["results"]}  # planted
    assert measures["bandit.issues.high"] == 1  # the reviewed `# nosec` call is not counted

    worker_out = json.loads(rerun(tool_rows["complexity"][2], sample).stdout)
    functions = [f for r in worker_out.values() for f in r.get("functions", [])]
    assert measures["complexity.functions"] == len(functions)
    assert measures["complexity.cyclomatic.max"] == max(f["complexity"] for f in functions) == 15
    assert measures["size.loc"] == sum(r["raw"]["loc"] for r in worker_out.values())

    totals = json.loads((sample / "coverage.json").read_text(encoding="utf-8"))["totals"]
    assert measures["coverage.line_percent"] == pytest.approx(totals["percent_statements_covered"])
    assert measures["coverage.branch_percent"] == pytest.approx(totals["percent_branches_covered"])

    marker = re.compile(r"#.*(noqa|type: ignore|nosec)")
    by_hand = sum(
        1 for p in sample.rglob("*.py") for line in p.read_text().splitlines() if marker.search(line)
    )
    assert measures["suppressions.count"] == by_hand == 3
    assert 0 < measures["quality.score"] < 100
    catalogue = {row[0] for row in store.fetch("SELECT name FROM metrics")}
    assert set(measures) <= catalogue
    # One number type for every measure (`collect --format json` printed ruff's as ints).
    assert {type(v) for v in result.measures.values()} == {float}


def test_cache_gives_identical_measures_and_findings(sample: Path, options_for: Options) -> None:
    tools = ["ruff", "bandit", "complexity", "suppressions"]
    plain = collect(sample, project="s", tools=tools, options=options_for())
    cache = MemoryFileCache()
    first = collect(sample, project="s", tools=tools, options=options_for(), file_cache=cache)
    second = collect(sample, project="s", tools=tools, options=options_for(), file_cache=cache)

    def key(result: object) -> tuple[dict[str, float], list[tuple[str, ...]]]:
        rows = sorted((f.tool, f.rule, f.path, str(f.line), f.fingerprint) for f in result.findings)  # type: ignore[attr-defined]
        return result.measures, rows  # type: ignore[attr-defined]

    assert key(plain) == key(first) == key(second)
    assert all(t.cached_files == 0 for t in first.tools)
    assert all(t.cached_files == t.files > 0 for t in second.tools)
    # one changed file: only that file is analysed again, results stay exact
    core = sample / "samplepkg" / "core.py"
    core.write_text(core.read_text().replace("    unused = 42\n", ""), encoding="utf-8")
    third = collect(sample, project="s", tools=tools, options=options_for(), file_cache=cache)
    fresh = collect(sample, project="s", tools=tools, options=options_for())
    assert key(third) == key(fresh)
    assert all(t.files - t.cached_files == 1 for t in third.tools if t.tool != "bandit")
    assert third.measures["ruff.issues"] == plain.measures["ruff.issues"] - 1


def test_fingerprints_survive_line_shifts(sample: Path, options_for: Options, tmp_path: Path) -> None:
    store = MetricStore(tmp_path / "q.duckdb")
    tools = ["ruff", "mypy", "bandit"]
    first = store.append_run(collect(sample, project="s", tools=tools, options=options_for()))
    core = sample / "samplepkg" / "core.py"
    text = core.read_text()
    shifted = text.replace('"""Core helpers', '# a new comment\n\n"""Core helpers', 1)
    core.write_text(shifted, encoding="utf-8")
    second = store.append_run(collect(sample, project="s", tools=tools, options=options_for()))
    new, fixed = new_and_fixed(store, second, first)
    assert new.height == 0 and fixed.height == 0
    lines = dict(
        store.fetch("SELECT fingerprint, line FROM findings WHERE run_id = ? AND tool = 'ruff'", [second])
    )
    old_lines = dict(
        store.fetch("SELECT fingerprint, line FROM findings WHERE run_id = ? AND tool = 'ruff'", [first])
    )
    assert all(lines[fp] == old_lines[fp] + 2 for fp in old_lines)
    # fix one planted problem, plant a new one
    core.write_text(shifted.replace("    unused = 42\n", "") + "\n\ndef bad():\n    return undefined_name\n")
    third = store.append_run(collect(sample, project="s", tools=tools, options=options_for()))
    new, fixed = new_and_fixed(store, third)
    assert sorted(new["rule"].to_list()) == ["F821"]
    assert fixed["rule"].to_list() == ["F841"]


def test_missing_coverage_is_skipped_and_absent(sample: Path, options_for: Options, tmp_path: Path) -> None:
    (sample / "coverage.json").unlink()
    result = collect(sample, project="s", tools=["coverage", "ruff"], options=options_for())
    tools = {t.tool: t for t in result.tools}
    assert tools["coverage"].status == "skipped" and "no coverage data" in (tools["coverage"].error or "")
    assert result.run.status == "succeeded"
    assert not any(name.startswith("coverage.") for name in result.measures)
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)
    assert (
        store.fetch("SELECT count(*) FROM measures WHERE run_id = ? AND metric LIKE 'coverage.%'", [run_id])[
            0
        ][0]
        == 0
    )


def test_coverage_from_running_the_tests(sample: Path, options_for: Options) -> None:
    (sample / "coverage.json").unlink()
    options = options_for(
        coverage_run_tests=True,
        coverage_test_args=("--source=samplepkg", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"),
    )
    result = collect(sample, project="s", tools=["coverage"], options=options)
    assert result.tools[0].status == "succeeded", result.tools[0].error
    assert result.measures["coverage.line_percent"] == pytest.approx(48.10126582278481)
    assert not (sample / ".coverage").exists()  # data stays outside the project


def test_cli_collect_and_findings(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    db = str(tmp_path / "cli.duckdb")
    runner = CliRunner()
    done = runner.invoke(
        main,
        [
            "collect",
            str(sample),
            "--db",
            db,
            "--project",
            "demo",
            "--tools",
            "ruff,bandit",
            "--format",
            "json",
        ],
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["status"] == "succeeded" and summary["previous_run_id"] is None
    assert {t["tool"]: t["count"] for t in summary["tools"]} == {"ruff": 5, "bandit": 8}
    # without the complexity tool there is no line count: ruff's density cannot be scored
    assert summary["score_left_out"] == ["lint"] and "size.sloc" not in summary["measures"]
    core = sample / "samplepkg" / "core.py"
    core.write_text(core.read_text().replace("    unused = 42\n", ""), encoding="utf-8")
    table = runner.invoke(
        main, ["collect", str(sample), "--db", db, "--project", "demo", "--tools", "ruff,bandit"]
    )
    assert table.exit_code == 0, table.output
    assert "new findings: 0, fixed: 1 (against the previous run)" in table.output
    assert "score leaves out lint (findings per 1,000 source lines): no line count" in table.output
    fixed = runner.invoke(main, ["findings", "--db", db, "--project", "demo", "--fixed", "--format", "json"])
    assert fixed.exit_code == 0, fixed.output
    assert [row["rule"] for row in json.loads(fixed.output)] == ["F841"]
    measured = runner.invoke(main, ["collect", str(sample), "--db", db, "--project", "demo",
                                    "--tools", "ruff,bandit,complexity", "--format", "json"])
    assert measured.exit_code == 0, measured.output
    assert json.loads(measured.output)["score_left_out"] == []
    monkeypatch.setenv("FLEXT_QUALITY_COLLECT__EXECUTABLES", '{"complexity": ["/bin/false"]}')
    broken = runner.invoke(main, ["collect", str(sample), "--db", db, "--project", "demo",
                                  "--tools", "ruff,complexity"])
    assert "no line count was measured; the complexity tool, which measures it, failed" in broken.output
    monkeypatch.delenv("FLEXT_QUALITY_COLLECT__EXECUTABLES")
    outside = runner.invoke(main, ["collect", "/", "--db", db])
    assert outside.exit_code == 1 and "outside the allowed roots" in outside.output
    bad_tool = runner.invoke(main, ["collect", str(sample), "--db", db, "--tools", "ruff,pylint"])
    assert bad_tool.exit_code == 2 and "pylint" in bad_tool.output


def test_sharded_bandit_equals_one_run(sample: Path, options_for: Options) -> None:
    source = (sample / "samplepkg" / "shell.py").read_text()
    for index in range(16):
        (sample / "samplepkg" / f"copy_{index}.py").write_text(source.replace("hunter2", f"pw{index}"))
    sharded = collect(sample, project="s", tools=["bandit"], options=options_for(concurrency=2))
    single = collect(sample, project="s", tools=["bandit"], options=options_for(concurrency=1))
    assert sharded.measures == single.measures
    assert sharded.measures["bandit.issues"] == 17 * 8
    assert sorted(f.fingerprint for f in sharded.findings) == sorted(f.fingerprint for f in single.findings)
    assert sharded.tools[0].command == single.tools[0].command  # the recorded command covers all files


def test_project_configuration_wins(sample: Path, options_for: Options) -> None:
    (sample / "pyproject.toml").write_text(
        '[tool.ruff]\nextend-exclude = ["samplepkg/shell.py"]\n[tool.ruff.lint]\nselect = ["F"]\n\n'
        '[tool.mypy]\npackages = ["samplepkg"]\nignore_missing_imports = true\n'
    )
    result = collect(sample, project="s", tools=["ruff", "mypy"], options=options_for())
    tools = {t.tool: t for t in result.tools}
    assert "--isolated" not in tools["ruff"].command and "--force-exclude" in tools["ruff"].command
    assert {f.rule for f in result.findings if f.tool == "ruff"} == {"F841"}  # only F rules
    assert "--" not in tools["mypy"].command  # mypy checks what the project configured
    assert result.measures["mypy.errors"] == 3
    default = collect(sample, project="s", tools=["ruff"], options=options_for())
    (sample / "pyproject.toml").unlink()
    plain = collect(sample, project="s", tools=["ruff"], options=options_for())
    assert default.tools[0].config_hash != plain.tools[0].config_hash


def test_mypy_blocking_error_fails_the_tool(sample: Path, options_for: Options) -> None:
    for folder in ("one", "two"):
        (sample / folder).mkdir()
        (sample / folder / "conftest.py").write_text("X = 1\n")
    result = collect(sample, project="s", tools=["mypy", "ruff"], options=options_for())
    mypy = next(t for t in result.tools if t.tool == "mypy")
    assert mypy.status == "failed" and "Duplicate module named" in (mypy.error or "")
    assert result.run.status == "partial" and "ruff.issues" in result.measures


def test_a_folder_without_python_files_is_not_scored(
    tmp_path: Path, options_for: Options, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "docs-only"
    empty.mkdir()
    (empty / "README.md").write_text("# not code\n", encoding="utf-8")
    # The pipeline (backfill meets such commits: a history's first commit) stores no score ...
    result = collect(empty, project="e", tools=["ruff", "bandit"], options=options_for())
    assert result.run.status == "succeeded"
    assert result.measures["bandit.issues"] == 0 and "quality.score" not in result.measures
    # ... and `collect` says the path holds nothing to analyse, and stores nothing.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    db = tmp_path / "e.duckdb"
    done = CliRunner().invoke(main, ["collect", str(empty), "--db", str(db), "--tools", "ruff,bandit"])
    assert done.exit_code == 1
    assert done.stderr.strip() == f"error: no Python files under {empty}: nothing to analyse"
    assert not db.exists()


def test_collecting_a_commit_again_says_it_replaced_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "mod.py").write_text("import os\n", encoding="utf-8")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_ALLOWED_ROOTS", str(tmp_path))
    argv = ["collect", str(project), "--db", str(tmp_path / "c.duckdb"), "--tools", "ruff"]
    first = CliRunner().invoke(main, argv)
    assert first.exit_code == 0, first.output
    assert "(first run of this project)" in first.output
    again = CliRunner().invoke(main, [*argv, "--format", "json"])
    summary = json.loads(again.stdout)
    assert summary["previous_run_id"] is None and summary["replaced_run_id"] is not None
    text = CliRunner().invoke(main, argv)
    shown = " ".join(text.output.split())  # the table folds long lines to the terminal
    assert "(this run replaced the earlier run of this commit; no other run to compare)" in shown
    assert MetricStore(tmp_path / "c.duckdb").fetch("SELECT count(*) FROM runs") == [(1,)]
