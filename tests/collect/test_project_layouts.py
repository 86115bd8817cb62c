"""Projects as users have them: strict mypy configurations, monorepos, odd file names.

Every count is checked against the tool itself, run by hand on the same planted project.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from collect_support import git

from collectors.base import CollectOptions
from collectors.pipeline import collect
from collectors.projectconfig import config_folders
from collectors.runner import resolve_executable
from storage.store import MetricStore

Options = Callable[..., CollectOptions]

TYPE_ERRORS = 'def f(x: int) -> str:\n    return x\n\n\ny: int = "s"\n'
UNTYPED = (
    "import sys, os\n\n\ndef f(x):\n    return x\n\n\n"
    "def g(a: int) -> int:\n    l = 1\n    return a\n\n\ny = f(1)\n"
)


def by_hand(cwd: Path, *argv: str) -> str:
    """Run one of our pinned tools by hand in ``cwd`` (output decoded as collect decodes it)."""
    tool = resolve_executable(argv[0], {})
    done = subprocess.run([*tool, *argv[1:]], cwd=cwd, capture_output=True, timeout=300, check=False)
    return done.stdout.decode("utf-8", "replace")


def rerun(command: tuple[str, ...], cwd: Path) -> str:
    """Run a recorded command again (a file name that is not UTF-8 goes back as its bytes)."""
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, timeout=300, check=False)
    return done.stdout.decode("utf-8", "replace")


def mypy_errors(output: str) -> int:
    """The error lines of ``mypy --output json`` (its JSON lines; text notes are not errors)."""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return sum(1 for line in lines if json.loads(line)["severity"] == "error")


@pytest.mark.parametrize(
    ("name", "config"),
    [
        (
            "setup.cfg",
            "[mypy]\nwarn_unused_configs = True\n\n[mypy-colorama.*]\nignore_missing_imports = True\n",
        ),
        (
            "pyproject.toml",
            "[tool.mypy]\nstrict = true\nwarn_unused_configs = true\n\n"
            "[[tool.mypy.overrides]]\nmodule = ['colorama.*']\nignore_missing_imports = true\n",
        ),
    ],
)
def test_mypy_notes_on_unused_configuration_do_not_fail_it(
    tmp_path: Path, options_for: Options, name: str, config: str
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / name).write_text(config, encoding="utf-8")
    (project / "app.py").write_text(TYPE_ERRORS, encoding="utf-8")
    result = collect(project, project="p", tools=["mypy"], options=options_for())
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)
    tool = result.tools[0]
    assert result.run.status == "succeeded" and tool.status == "succeeded", tool.error
    hand = by_hand(project, "mypy", "--output", "json", "--cache-dir", "/dev/null", "app.py")
    assert f"{name}: note: unused section(s):" in hand  # the tool really printed its note
    assert result.measures["mypy.errors"] == mypy_errors(hand) == 2
    assert result.measures["mypy.errors"] == mypy_errors(rerun(tool.command, project))
    # the note stays visible with the tool run, whole, not as a finding
    assert tool.error is not None and tool.error.startswith(f"{name}: note: unused section(s): ")
    assert "colorama" in tool.error
    stored = store.fetch("SELECT status, error FROM tool_runs WHERE run_id = ?", [run_id])
    assert stored == [("succeeded", tool.error)]
    assert store.fetch("SELECT count(*) FROM findings WHERE run_id = ?", [run_id])[0][0] == 2


def _monorepo(tmp_path: Path) -> tuple[Path, Path]:
    """``outer/repo`` (a git repository) with ``pkg`` in it; ``outer`` holds a stray config."""
    outer = tmp_path / "outer"
    repo = outer / "repo"
    package = repo / "pkg"
    (package / "sub").mkdir(parents=True)
    git(repo, "init", "-q")
    # above the repository: never the project's configuration (a home or temporary folder)
    (outer / "pyproject.toml").write_text(
        '[tool.ruff.lint]\nselect = ["ALL"]\n\n[tool.mypy]\nstrict = true\nwarn_unreachable = true\n',
        encoding="utf-8",
    )
    (repo / "pyproject.toml").write_text(
        '[tool.ruff]\nline-length = 100\n\n[tool.ruff.lint]\nselect = ["F", "E", "I"]\n\n'
        "[tool.mypy]\nstrict = true\n",
        encoding="utf-8",
    )
    # a pyproject.toml without tool sections in the project: ruff and mypy look past it
    (package / "pyproject.toml").write_text('[project]\nname = "pkg"\n', encoding="utf-8")
    (package / "mod.py").write_text(UNTYPED, encoding="utf-8")
    (package / "sub" / "__init__.py").write_text("", encoding="utf-8")
    return repo, package


def test_a_monorepo_project_uses_the_repository_configuration(tmp_path: Path, options_for: Options) -> None:
    repo, package = _monorepo(tmp_path)
    assert config_folders(package) == [package, repo]
    result = collect(package, project="pkg", tools=["ruff", "mypy"], options=options_for())
    tools = {t.tool: t for t in result.tools}
    assert result.run.status == "succeeded", [t.error for t in result.tools]
    assert "--isolated" not in tools["ruff"].command and "--config-file=" not in tools["mypy"].command
    ruff_hand = json.loads(by_hand(package, "ruff", "check", "--output-format", "json", "--no-cache"))
    assert result.measures["ruff.issues"] == len(ruff_hand) == 6
    assert "I001" in {e["code"] for e in ruff_hand}  # the repository's selection, not ours
    assert result.measures["ruff.issues"] == len(json.loads(rerun(tools["ruff"].command, package)))
    mypy_hand = by_hand(package, "mypy", "--output", "json", "--cache-dir", "/dev/null", "mod.py", "sub")
    assert result.measures["mypy.errors"] == mypy_errors(mypy_hand) == 2  # strict: untyped def and call
    assert result.measures["mypy.errors"] == mypy_errors(rerun(tools["mypy"].command, package))
    assert {f.rule for f in result.findings if f.tool == "mypy"} == {"no-untyped-def", "no-untyped-call"}

    # Without a repository configuration, the one above the repository is not used: our defaults
    (repo / "pyproject.toml").unlink()
    plain = collect(package, project="pkg", tools=["ruff", "mypy"], options=options_for())
    tools = {t.tool: t for t in plain.tools}
    assert "--isolated" in tools["ruff"].command and "--config-file=" in tools["mypy"].command
    assert plain.measures["ruff.issues"] == len(json.loads(rerun(tools["ruff"].command, package))) == 5
    assert plain.measures["mypy.errors"] == mypy_errors(rerun(tools["mypy"].command, package)) == 0
    assert tools["ruff"].config_hash != {t.tool: t for t in result.tools}["ruff"].config_hash


def test_outside_a_repository_only_the_project_folder_counts(tmp_path: Path, options_for: Options) -> None:
    # e.g. an unpacked archive: only the project folder's own configuration counts
    folder = tmp_path / "checkout"
    (folder / "pkg").mkdir(parents=True)
    (folder / "ruff.toml").write_text('[lint]\nselect = ["ALL"]\n', encoding="utf-8")
    (folder / "pkg" / "mod.py").write_text(UNTYPED, encoding="utf-8")
    if len(config_folders(folder)) > 1:
        pytest.skip("the temporary folder lies inside a repository here")
    assert config_folders(folder / "pkg") == [folder / "pkg"]
    result = collect(folder / "pkg", project="pkg", tools=["ruff"], options=options_for())
    assert "--isolated" in result.tools[0].command


BAD = "bad\udcffname.py"  # the name's bytes: b"bad\xffname.py", not UTF-8
BAD_CODE = 'import os\nimport subprocess\nassert True\nsubprocess.call("ls", shell=True)\n'
GOOD_CODE = 'import sys\nimport subprocess\nsubprocess.call("ls", shell=True)\n'


def test_a_file_name_that_is_not_utf8_keeps_its_findings(tmp_path: Path, options_for: Options) -> None:
    project = tmp_path / "odd"
    project.mkdir()
    (project / BAD).write_text(BAD_CODE, encoding="utf-8")
    (project / "good.py").write_text(GOOD_CODE, encoding="utf-8")
    tools = ["ruff", "bandit", "complexity", "suppressions"]
    result = collect(project, project="odd", tools=tools, options=options_for())
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)
    assert result.run.status == "succeeded", [t.error for t in result.tools]
    by_tool = {t.tool: t for t in result.tools}
    ruff_hand = json.loads(by_hand(project, "ruff", "check", "--output-format", "json", "--no-cache",
                                   "--isolated", "--select", "E4,E7,E9,F,W,B,UP,PLE,RUF100", "."))
    assert result.measures["ruff.issues"] == len(ruff_hand) == 2
    assert result.measures["ruff.issues"] == len(json.loads(rerun(by_tool["ruff"].command, project)))
    bandit_hand = json.loads(by_hand(project, "bandit", "-f", "json", "-q", "-r", "."))["results"]
    assert result.measures["bandit.issues"] == len(bandit_hand) == 7
    rerun_bandit = json.loads(rerun(by_tool["bandit"].command, project))["results"]
    assert result.measures["bandit.issues"] == len(rerun_bandit)
    # stored with the bad byte escaped, the same way by every tool
    paths = dict(store.fetch("SELECT tool, list(DISTINCT path ORDER BY path) FROM findings "
                             "WHERE run_id = ? GROUP BY tool", [run_id]))
    assert paths["ruff"] == paths["bandit"] == ["bad\\xffname.py", "good.py"]
    assert store.fetch("SELECT count(*) FROM findings WHERE run_id = ? AND tool = 'ruff' "
                       "AND path = 'bad\\xffname.py'", [run_id])[0][0] == 1

    # mypy itself crashes on such a name: a failed tool with a reason that says why
    mypy = collect(project, project="odd", tools=["mypy"], options=options_for()).tools[0]
    assert mypy.status == "failed" and "not valid UTF-8" in (mypy.error or "")
    assert "bad\\xffname.py" in (mypy.error or "")


def test_file_names_a_tool_cannot_tell_apart_fail_it(tmp_path: Path, options_for: Options) -> None:
    # ruff writes both names as "a\ufffd.py": its findings cannot be given to the right file
    project = tmp_path / "twins"
    project.mkdir()
    for name in ("a\udcfe.py", "a\udcff.py"):
        (project / name).write_text("import os\n", encoding="utf-8")
    result = collect(project, project="t", tools=["ruff", "suppressions"], options=options_for())
    ruff = result.tools[0]
    assert result.run.status == "partial" and ruff.status == "failed"
    assert "cannot tell their findings apart" in (ruff.error or "")
    assert "ruff.issues" not in result.measures


def test_the_collect_command_takes_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    # The command goes through the per-file cache first, which hashes every path.
    project = tmp_path / "odd"
    project.mkdir()
    (project / BAD).write_text(BAD_CODE, encoding="utf-8")
    (project / "good.py").write_text(GOOD_CODE, encoding="utf-8")
    env = {**os.environ, "FLEXT_QUALITY_ALLOWED_ROOTS": str(tmp_path)}
    done = subprocess.run(
        [*resolve_executable("flext-quality", {}), "collect", str(project),
         "--db", str(tmp_path / "c.duckdb"), "--tools", "ruff,bandit", "--format", "json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    counts = {t["tool"]: t["count"] for t in json.loads(done.stdout)["tools"]}
    ruff_hand = json.loads(by_hand(project, "ruff", "check", "--output-format", "json", "--no-cache",
                                   "--isolated", "--select", "E4,E7,E9,F,W,B,UP,PLE,RUF100", "."))
    bandit_hand = json.loads(by_hand(project, "bandit", "-f", "json", "-q", "-r", "."))["results"]
    assert counts == {"ruff": len(ruff_hand), "bandit": len(bandit_hand)}


FIXES = "import os\nimport sys\n\nx = 1\nif x == None:\n    pass\ntry:\n    pass\nexcept:\n    pass\n"


def _ruff_summary_fixable(command: tuple[str, ...], cwd: Path) -> int:
    """The N of ruff's own ``[*] N fixable with `--fix``` line for the recorded command."""
    argv = list(command)
    argv[argv.index("json")] = "concise"
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False).stdout
    counts = [int(line.split()[1]) for line in out.splitlines() if line.startswith("[*]")]
    return counts[0] if counts else 0


def test_fixable_counts_what_ruff_fix_fixes(tmp_path: Path, options_for: Options) -> None:
    # two F401 (safe fix), E711 (unsafe fix), E722 (no fix)
    project = tmp_path / "fixes"
    project.mkdir()
    (project / "mod.py").write_text(FIXES)
    plain = collect(project, project="fixes", tools=["ruff"], options=options_for())
    command = next(t.command for t in plain.tools if t.tool == "ruff")
    assert plain.measures["ruff.issues"] == 4
    assert plain.measures["ruff.issues.fixable"] == _ruff_summary_fixable(command, project) == 2

    # A project that enables unsafe fixes: ruff's summary counts them, and so do we.
    (project / "pyproject.toml").write_text(
        '[tool.ruff]\nunsafe-fixes = true\n[tool.ruff.lint]\nselect = ["E", "F"]\n')
    unsafe = collect(project, project="fixes", tools=["ruff"], options=options_for())
    command = next(t.command for t in unsafe.tools if t.tool == "ruff")
    assert unsafe.measures["ruff.issues.fixable"] == _ruff_summary_fixable(command, project) == 3

    # Turning it off again changes the configuration hash: no cached per-file count is reused.
    (project / "pyproject.toml").write_text(
        '[tool.ruff]\nunsafe-fixes = false\n[tool.ruff.lint]\nselect = ["E", "F"]\n')
    safe = collect(project, project="fixes", tools=["ruff"], options=options_for())
    command = next(t.command for t in safe.tools if t.tool == "ruff")
    assert safe.measures["ruff.issues.fixable"] == _ruff_summary_fixable(command, project) == 2


def test_file_names_that_look_like_options_are_files(tmp_path: Path, options_for: Options) -> None:
    project = tmp_path / "dashes"
    project.mkdir()
    (project / "-x.py").write_text('eval("1")\n')  # bandit read this as "-x .py" (exclude all)
    (project / "-h.py").write_text('import os\neval("2")\n')
    (project / "ok.py").write_text('eval("3")\nexec("4")\n')
    result = collect(project, project="dashes", tools=["ruff", "bandit", "mypy", "complexity"],
                     options=options_for())
    assert result.run.status == "succeeded", [t.error for t in result.tools]
    bandit_hand = json.loads(by_hand(project, "bandit", "-r", ".", "-f", "json", "-q"))
    assert result.measures["bandit.issues"] == len(bandit_hand["results"]) == 4
    assert result.measures["ruff.issues"] == 1  # F401 in -h.py
    assert result.measures["size.files"] == 3


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("pyproject.toml", '[tool.mypy]\nstrict = true\nexclude = ["legacy/", "_gen\\\\.py$"]\n'),
        ("mypy.ini", "[mypy]\nstrict = True\nexclude = (?x)(legacy/|_gen\\.py$)\n"),
    ],
)
def test_mypy_exclude_leaves_out_what_mypy_would_not_check(
    tmp_path: Path, options_for: Options, name: str, config: str
) -> None:
    project = tmp_path / "cfg"
    (project / "legacy").mkdir(parents=True)
    (project / name).write_text(config, encoding="utf-8")
    (project / "app.py").write_text(TYPE_ERRORS, encoding="utf-8")
    (project / "legacy" / "old.py").write_text(UNTYPED, encoding="utf-8")
    (project / "schema_gen.py").write_text(UNTYPED, encoding="utf-8")
    result = collect(project, project="cfg", tools=["mypy"], options=options_for())
    assert result.run.status == "succeeded", [t.error for t in result.tools]
    hand = by_hand(project, "mypy", "--output", "json", "--cache-dir", "/dev/null", ".")
    assert result.measures["mypy.errors"] == mypy_errors(hand) == 2  # app.py's two only
    assert {f.path for f in result.findings} == {"app.py"}
    assert result.measures["mypy.errors"] == mypy_errors(rerun(result.tools[0].command, project))


@pytest.mark.parametrize(("root_config", "sub_config"), [
    ("unsafe-fixes = true\n", "line-length = 100\n"),  # the root's setting holds for every file
    ("line-length = 100\n", "unsafe-fixes = true\n"),  # a sub-folder's setting does not count
])
def test_fixable_takes_unsafe_fixes_from_the_folder_ruff_runs_in(
    tmp_path: Path, options_for: Options, root_config: str, sub_config: str
) -> None:
    project = tmp_path / "nested"
    for folder in ("aaa", "bbb"):  # no Python file at the top: ruff meets aaa/ first
        (project / folder).mkdir(parents=True)
        (project / folder / "mod.py").write_text(FIXES)
    (project / "ruff.toml").write_text(root_config + '[lint]\nselect = ["E", "F"]\n')
    (project / "aaa" / "ruff.toml").write_text(sub_config + '[lint]\nselect = ["E", "F"]\n')
    result = collect(project, project="nested", tools=["ruff"], options=options_for())
    command = next(t.command for t in result.tools if t.tool == "ruff")
    assert result.measures["ruff.issues.fixable"] == _ruff_summary_fixable(command, project)


def test_a_mypy_exclude_that_leaves_out_every_file_skips_mypy(tmp_path: Path, options_for: Options) -> None:
    project = tmp_path / "all"
    project.mkdir()
    (project / "mypy.ini").write_text("[mypy]\nexclude = .*\n")
    (project / "app.py").write_text(TYPE_ERRORS)
    result = collect(project, project="all", tools=["mypy"], options=options_for())
    tool = result.tools[0]
    assert (tool.status, tool.files) == ("skipped", 0)
    assert tool.error == "the project's mypy exclude leaves out every file"
    assert "mypy.errors" not in result.measures


def test_a_syntax_error_that_stops_mypy_says_typing_was_not_checked(
    tmp_path: Path, options_for: Options
) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "bad.py").write_text("def f(:\n")
    (project / "app.py").write_text(TYPE_ERRORS)  # two type errors mypy never gets to
    # (mypy reports two syntax errors in bad.py and stops)
    result = collect(project, project="broken", tools=["mypy"], options=options_for())
    tool = result.tools[0]
    hand = by_hand(project, "mypy", "--output", "json", "--cache-dir", "/dev/null", "--config-file=",
                   "--ignore-missing-imports", "bad.py", "app.py")
    assert tool.status == "succeeded" and result.measures["mypy.errors"] == mypy_errors(hand) == 2
    assert tool.error is not None and "mypy stopped at a syntax error in bad.py" in tool.error
