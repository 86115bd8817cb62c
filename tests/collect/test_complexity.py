"""The complexity worker: radon's numbers, without radon's quadratic raw counting."""

from __future__ import annotations

import json
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from collect_support import REPO, SAMPLE
from radon.metrics import mi_visit
from radon.raw import analyze

from collectors import complexity_worker
from collectors.complexity_worker import analyse_source, fast_raw
from collectors.pipeline import collect

WORKER = Path(complexity_worker.__file__)


def generated_table(rows: int) -> str:
    """A file shaped like rich's generated unicode tables: one huge literal, a little code."""
    body = ",\n".join(f"    ({i * 37}, {i * 37 + 12}, {i % 3})" for i in range(rows))
    return (
        '"""Generated cell widths."""\n# fmt: off\n'
        f"CELL_WIDTHS = [\n{body},\n]  # table end\n\n"
        "def cell_width(code: int) -> int:\n"
        "    '''Binary search in the table.'''\n"
        "    lo, hi = 0, len(CELL_WIDTHS) - 1\n"
        "    while lo <= hi:\n"
        "        mid = (lo + hi) // 2\n"
        "        start, end, width = CELL_WIDTHS[mid]\n"
        "        if code < start:\n"
        "            hi = mid - 1\n"
        "        elif code > end:\n"
        "            lo = mid + 1\n"
        "        else:\n"
        "            return width\n"
        "    return 1\n"
    )


def real_files() -> list[Path]:
    """Python files nobody wrote for this test: our code, the sample, and some stdlib modules."""
    stdlib = Path(tokenize.__file__).parent
    picked = [
        stdlib / name
        for name in (
            "tokenize.py",
            "ast.py",
            "argparse.py",
            "dataclasses.py",
            "textwrap.py",
            "shlex.py",
            "fractions.py",
            "difflib.py",
        )
    ]
    ours = sorted((REPO / "collectors").glob("*.py")) + sorted((REPO / "storage").glob("*.py"))
    return [p for p in picked if p.is_file()] + ours + sorted(SAMPLE.rglob("*.py"))


@pytest.mark.parametrize("path", real_files(), ids=lambda p: p.name)
def test_raw_counts_equal_radon(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert fast_raw(source) == analyze(source)


@pytest.mark.parametrize(
    "source",
    [
        "",
        "\n\n",
        "x = 1",
        "if x: return 0  # c\n",
        "a = 1; b = 2\n",
        "if x: a; b\n",
        "if x: a; b:\n",
        "x = {1: 2}; y = z[1:2]\n",
        "for i in x: pass;\n",
        "s = '''\nmulti\n\n'''\n",
        "def f(\n    a,\n    # inside\n    b,\n):\n    pass\n",
        "x = 1 + \\\n    2\n",
        "'''doc'''\n\n\n",
        "class A:\n    '''Doc\n    string.'''\n    x: int = 1\n",
    ],
)
def test_raw_counts_equal_radon_on_edge_cases(source: str) -> None:
    assert fast_raw(source) == analyze(source)


def test_generated_table_is_exact_and_tokenized_once(monkeypatch: pytest.MonkeyPatch) -> None:
    source = generated_table(250)
    assert fast_raw(source) == analyze(source)
    result = analyse_source(source)
    assert result["mi"] == pytest.approx(mi_visit(source, True))
    # Linear, not quadratic: the number of tokenizer runs does not depend on the table's
    # length (each statement is tokenized once), while radon's raw counting re-tokenizes a
    # growing buffer once per line of the statement.
    runs = {"count": 0}
    original = tokenize.generate_tokens

    def counting(readline):  # type: ignore[no-untyped-def]
        runs["count"] += 1
        return original(readline)

    monkeypatch.setattr(tokenize, "generate_tokens", counting)
    fast_raw(generated_table(60))
    small = runs["count"]
    runs["count"] = 0
    fast_raw(generated_table(600))
    assert runs["count"] == small < 20
    runs["count"] = 0
    analyze(generated_table(60))  # radon on a 60-row table
    assert runs["count"] > 60


def test_worker_matches_radon_cli(tmp_path: Path) -> None:
    files = sorted(str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*.py"))
    (tmp_path / "table.py").write_text(generated_table(120), encoding="utf-8")
    radon = str(Path(sys.executable).parent / "radon")

    def run(argv: list[str], cwd: Path) -> dict[str, object]:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    for cwd, names in ((SAMPLE, files), (tmp_path, ["table.py"])):
        ours = run([sys.executable, str(WORKER), "--jobs", "2", *names], cwd)
        cc: dict[str, list[dict[str, object]]] = run([radon, "cc", "-j", *names], cwd)  # type: ignore[assignment]
        mi = run([radon, "mi", "-j", *names], cwd)
        raw = run([radon, "raw", "-j", *names], cwd)
        for name in names:
            mine = ours[name]
            assert isinstance(mine, dict)
            theirs = sorted(b["complexity"] for b in cc.get(name, []) if b["type"] in ("function", "method"))
            assert sorted(f["complexity"] for f in mine["functions"]) == theirs
            assert mine["mi"] == pytest.approx(mi[name]["mi"])
            assert mine["raw"] == {k: raw[name][k] for k in mine["raw"]}


def test_syntax_error_is_reported_not_raised() -> None:
    result = analyse_source("def broken(:\n    return 1\n")
    assert "error" in result and "SyntaxError" in result["error"]


def test_a_file_too_deep_for_radon_is_its_own_error_and_the_rest_is_measured(
    tmp_path: Path, options_for  # type: ignore[no-untyped-def]
) -> None:
    project = tmp_path / "deep"
    project.mkdir()
    (project / "deep.py").write_text("x = " + " + ".join(f"a{i}" for i in range(3000)) + "\n")
    (project / "ok.py").write_text("def f(a):\n    if a:\n        return 1\n    return 2\n")
    by_hand = subprocess.run([str(Path(sys.executable).with_name("radon")), "cc", "-j", "deep.py", "ok.py"],
                             cwd=project, capture_output=True, text=True, check=True)
    radon = json.loads(by_hand.stdout)
    assert "recursion" in radon["deep.py"]["error"] and radon["ok.py"][0]["complexity"] == 2
    result = collect(project, project="deep", tools=["complexity"], options=options_for())
    assert result.run.status == "succeeded", [t.error for t in result.tools]
    assert result.measures["complexity.functions"] == 1 and result.measures["size.files"] == 1
    [finding] = result.findings
    assert (finding.rule, finding.path) == ("analysis-error", "deep.py")
    assert finding.message.startswith("RecursionError")
