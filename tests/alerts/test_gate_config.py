"""Bad `[[gates]]` stop every command at start with one line; their valid neighbours load.

Each bad table goes through the real console script (exit 1, one stderr line naming the key,
the value and what is allowed, no traceback, no database made); the neighbours through
``load_settings`` on a real TOML file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flext_quality.settings import load_settings
from storage.errors import ConfigError

BIN = Path(sys.executable).parent
MAX_AGAINST_DAYS = 36_525  # '<N>d' looks back at most a century


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real ``flext-quality`` console script, without our variables from the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXT_QUALITY_")}
    return subprocess.run([str(BIN / "flext-quality"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _gates(*tables: str) -> str:
    return "".join(f"[[gates]]\n{table.strip()}\n" for table in tables)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flext-quality.toml"
    path.write_text(text, encoding="utf-8")
    return path


# (the gates, the key the line names, what it must also say)
BAD: list[tuple[str, str, list[str]]] = [
    (_gates('metric = "ruff.issues"\nmax = nan'), "gates.0.max=nan", ["finite number"]),
    (_gates('metric = "ruff.issues"\nmin = inf'), "gates.0.min=inf", ["finite number"]),
    (_gates('metric = "ruff.issues"\nmax = 1\ntolerance = inf'), "gates.0.tolerance=inf",
     ["finite number"]),
    (_gates('metric = "coverage.line_percent"\nmin = 5\nmax = 1'), "gates.0:",
     ["min=5 is above max=1", "min must be at most max"]),
    (_gates('metric = "ruff.issues"\nmax_increase = -1'), "gates.0.max_increase=-1",
     ["greater than or equal to 0"]),
    (_gates('metric = "ruff.issues"\nmax_increase_percent = -5'),
     "gates.0.max_increase_percent=-5", ["greater than or equal to 0"]),
    (_gates('metric = "coverage.line_percent"\nmax_decrease = -0.5'),
     "gates.0.max_decrease=-0.5", ["greater than or equal to 0"]),
    (_gates('metric = "coverage.line_percent"\nmax_decrease_percent = -1'),
     "gates.0.max_decrease_percent=-1", ["greater than or equal to 0"]),
    (_gates('metric = "quality.score"\nmax_worsening = -2'), "gates.0.max_worsening=-2",
     ["greater than or equal to 0"]),
    (_gates('metric = "quality.score"\nmax_worsening_percent = -3'),
     "gates.0.max_worsening_percent=-3", ["greater than or equal to 0"]),
    (_gates('metric = "ruff.issues"\nmax_increase = 1\nagainst = "0d"'), "gates.0.against='0d'",
     ["'<N>d' with N from 1 to 36525"]),
    (_gates('metric = "ruff.issues"\nmax_increase = 1\nagainst = "99999999999d"'),
     "gates.0.against='99999999999d'", ["'<N>d' with N from 1 to 36525"]),
    # a reference on a gate that compares with none
    (_gates('metric = "ruff.issues"\nmax = 1\nagainst = "7d"'), "gates.0:",
     ["against applies only to relative conditions"]),
    (_gates('metric = "ruff.issues"\nmax = 1\nbaseline_run = "r1"'), "gates.0:",
     ["baseline_run applies only to relative conditions"]),
    # the same name twice
    (_gates('metric = "ruff.issues"\nmax = 5\nname = "lint"',
            'metric = "mypy.errors"\nmax = 0\nname = "lint"'),
     "gates:", ["gates.0 and gates.1 have the same id 'lint'", "distinct `name`"]),
    # no names, and rules that differ only in consecutive, tolerance or projects
    (_gates('metric = "ruff.issues"\nmax = 5', 'metric = "ruff.issues"\nmax = 5\nconsecutive = 3'),
     "gates:", ["have the same id 'ruff.issues max=5'", "distinct `name`"]),
    (_gates('metric = "bandit.issues.high"\nmax = 0',
            'metric = "coverage.line_percent"\nmin = 80',
            'metric = "bandit.issues.high"\nmax = 0\ntolerance = 1'),
     "gates:", ["gates.0 and gates.2 have the same id 'bandit.issues.high max=0'"]),
    (_gates('metric = "ruff.issues"\nmax_increase = 3\nprojects = ["api*"]',
            'metric = "ruff.issues"\nmax_increase = 3\nprojects = ["web*"]'),
     "gates:", ["same id 'ruff.issues max_increase=3 against=previous'", "distinct `name`"]),
]


@pytest.mark.parametrize(("toml", "key", "says"), BAD, ids=[case[1] + str(n) for n, case in enumerate(BAD)])
def test_a_bad_gate_stops_every_command_with_one_line(
    tmp_path: Path, toml: str, key: str, says: list[str]
) -> None:
    _write(tmp_path, toml)
    done = _cli("--db", str(tmp_path / "x.duckdb"), "migrate", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: invalid setting {key}"), lines[0]
    for text in says:
        assert text in lines[0], lines[0]
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(
    "toml",
    [
        _gates('metric = "coverage.line_percent"\nmin = 80\nmax = 80'),  # exactly 80
        _gates('metric = "ruff.issues"\nmax_increase = 0'),  # no rise at all
        _gates('metric = "quality.score"\nmax_worsening_percent = 0\nagainst = "1d"'),
        _gates(f'metric = "ruff.issues"\nmax_increase = 1\nagainst = "{MAX_AGAINST_DAYS}d"'),
        _gates('metric = "ruff.issues"\nmax = -1e300'),  # huge but finite
        # one metric, one rule, told apart by their names
        _gates('metric = "ruff.issues"\nmax = 5\nname = "lint-api"\nprojects = ["api*"]',
               'metric = "ruff.issues"\nmax = 5\nname = "lint-web"\nprojects = ["web*"]'),
        # one metric, different rules: different default ids
        _gates('metric = "ruff.issues"\nmax = 5', 'metric = "ruff.issues"\nmax = 6'),
    ],
)
def test_the_valid_neighbours_still_load(tmp_path: Path, toml: str) -> None:
    settings = load_settings(_write(tmp_path, toml))
    assert len({g.gate_id for g in settings.gates}) == len(settings.gates) == toml.count("[[gates]]")


def test_a_duplicate_is_refused_also_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLEXT_QUALITY_GATES",
                       '[{"metric": "ruff.issues", "max": 5}, {"metric": "ruff.issues", "max": 5}]')
    with pytest.raises(ConfigError, match=r"^invalid setting gates: gates.0 and gates.1 have the "
                                          r"same id 'ruff.issues max=5': give each gate a distinct"):
        load_settings(None)
