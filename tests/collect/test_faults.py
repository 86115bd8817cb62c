"""Fault isolation: one broken analyzer makes a partial run, the others are still stored."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.base import CollectOptions
from collectors.pipeline import collect
from storage.store import MetricStore

Options = Callable[..., CollectOptions]
Fake = Callable[[str, str], tuple[str, ...]]


def _process_gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status  # killed, waiting to be reaped by init


def check_partial(result: object, failed: str, reason: str, tmp_path: Path) -> None:
    tools = {t.tool: t for t in result.tools}  # type: ignore[attr-defined]
    assert result.run.status == "partial"  # type: ignore[attr-defined]
    assert tools[failed].status == "failed"
    assert reason in (tools[failed].error or ""), tools[failed].error
    assert "\n" not in (tools[failed].error or "")
    others = [t for name, t in tools.items() if name != failed]
    assert others and all(t.status == "succeeded" for t in others)
    assert "suppressions.count" in result.measures  # type: ignore[attr-defined]
    store = MetricStore(tmp_path / "q.duckdb")
    run_id = store.append_run(result)  # type: ignore[arg-type]
    row = store.fetch("SELECT status, error FROM tool_runs WHERE run_id = ? AND tool = ?", [run_id, failed])
    assert row[0][0] == "failed" and reason in row[0][1]
    assert store.fetch("SELECT count(*) FROM measures WHERE run_id = ?", [run_id])[0][0] > 0


def test_missing_tool(sample: Path, options_for: Options, tmp_path: Path) -> None:
    options = options_for(executables={"ruff": (str(tmp_path / "no-such-ruff"),)})
    result = collect(sample, project="s", tools=["ruff", "complexity", "suppressions"], options=options)
    check_partial(result, "ruff", "not found", tmp_path)
    assert not any(name.startswith("ruff.") for name in result.measures)


def test_hanging_tool_is_killed_with_its_children(
    sample: Path, options_for: Options, fake_tool: Fake, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    hang = fake_tool(
        "bandit",
        (
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
            "time.sleep(600)\n"
        ),
    )
    options = options_for(executables={"bandit": hang}, timeout_s=2.0)
    result = collect(sample, project="s", tools=["bandit", "complexity", "suppressions"], options=options)
    check_partial(result, "bandit", "timed out after 2 s (process group killed)", tmp_path)
    assert _process_gone(int(pid_file.read_text()))


def test_crashing_tool(sample: Path, options_for: Options, fake_tool: Fake, tmp_path: Path) -> None:
    crash = fake_tool(
        "mypy",
        (
            "sys.stderr.write('Traceback (most recent call last):\\n  File x\\n')\n"
            "sys.stderr.write('RuntimeError: internal error\\n')\n"
            "sys.exit(2)\n"
        ),
    )
    result = collect(
        sample, project="s", tools=["mypy", "suppressions"], options=options_for(executables={"mypy": crash})
    )
    check_partial(result, "mypy", "RuntimeError: internal error", tmp_path)


def test_tool_killed_by_a_signal(sample: Path, options_for: Options, fake_tool: Fake, tmp_path: Path) -> None:
    segv = fake_tool("ruff", "os.kill(os.getpid(), 11)\n")
    result = collect(
        sample, project="s", tools=["ruff", "suppressions"], options=options_for(executables={"ruff": segv})
    )
    check_partial(result, "ruff", "killed by SIGSEGV", tmp_path)


@pytest.mark.parametrize(
    ("tool", "reason"),
    [("ruff", "not JSON"), ("bandit", "not JSON"), ("mypy", "not JSON"), ("complexity", "not JSON")],
)
def test_garbage_output(
    tool: str, reason: str, sample: Path, options_for: Options, fake_tool: Fake, tmp_path: Path
) -> None:
    garbage = fake_tool(
        tool, "print('<html>Service unavailable</html>')\nsys.exit(1 if sys.argv[1] != '--limit' else 0)\n"
    )
    result = collect(
        sample, project="s", tools=[tool, "suppressions"], options=options_for(executables={tool: garbage})
    )
    check_partial(result, tool, reason, tmp_path)


def test_every_tool_failing_makes_a_failed_run(sample: Path, options_for: Options, tmp_path: Path) -> None:
    missing = (str(tmp_path / "nothing"),)
    result = collect(
        sample,
        project="s",
        tools=["ruff", "bandit"],
        options=options_for(executables={"ruff": missing, "bandit": missing}),
    )
    assert result.run.status == "failed" and not result.measures


def test_syntax_error_file_is_recorded_per_tool(sample: Path, options_for: Options) -> None:
    (sample / "samplepkg" / "broken.py").write_text("def broken(:\n    return 1\n", encoding="utf-8")
    result = collect(
        sample,
        project="s",
        tools=["ruff", "mypy", "bandit", "complexity", "suppressions"],
        options=options_for(),
    )
    assert result.run.status == "succeeded"
    by_tool: dict[str, set[tuple[str, str]]] = {}
    for finding in result.findings:
        by_tool.setdefault(finding.tool, set()).add((finding.path, finding.rule))
    assert ("samplepkg/broken.py", "invalid-syntax") in by_tool["ruff"]
    assert ("samplepkg/core.py", "F841") in by_tool["ruff"]  # other files' results kept
    assert ("samplepkg/broken.py", "syntax-error") in by_tool["bandit"]
    assert ("samplepkg/shell.py", "B602") in by_tool["bandit"]
    assert result.measures["bandit.issues"] == 8  # a parse error is not a security issue
    assert ("samplepkg/broken.py", "syntax-error") in by_tool["complexity"]
    assert result.measures["size.files"] == 5  # the four parsable files and the tests
    assert by_tool["mypy"] == {("samplepkg/broken.py", "syntax")}  # mypy stops at a blocking error
    assert os.path.exists(sample / "samplepkg" / "broken.py")


def test_json_of_the_wrong_shape(sample: Path, options_for: Options, fake_tool: Fake, tmp_path: Path) -> None:
    odd = fake_tool("ruff", "print('[{\"unexpected\": true}]')\nsys.exit(1)\n")
    result = collect(
        sample, project="s", tools=["ruff", "suppressions"], options=options_for(executables={"ruff": odd})
    )
    check_partial(result, "ruff", "unexpected KeyError reading ruff's results", tmp_path)


def test_a_file_mypy_cannot_decode_fails_mypy_with_its_own_message(
    sample: Path, options_for: Options, tmp_path: Path
) -> None:
    (sample / "samplepkg" / "latin1.py").write_bytes(b's = "caf\xe9"\n')
    result = collect(sample, project="s", tools=["mypy", "suppressions"], options=options_for())
    check_partial(result, "mypy", "Cannot decode file", tmp_path)
