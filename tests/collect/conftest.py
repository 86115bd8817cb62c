"""Shared fixtures of the collect tests: a copy of the planted sample, options, fake tools."""

from __future__ import annotations

import shutil
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from collectors.base import CollectOptions

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for collect_support

from collect_support import SAMPLE


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A private copy of data/sample (tests may edit it)."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".*cache*"))
    return target


@pytest.fixture
def options_for(tmp_path: Path) -> Callable[..., CollectOptions]:
    """Options allowing ``tmp_path`` (keyword overrides are passed on)."""

    def make(**overrides: object) -> CollectOptions:
        values: dict[str, object] = {
            "allowed_roots": (tmp_path,),
            "concurrency": 2,
            "timeout_s": 120.0,
            "cache_dir": tmp_path / ".fq-cache",
        }
        values.update(overrides)
        return CollectOptions(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def fake_tool(tmp_path: Path) -> Callable[[str, str], tuple[str, ...]]:
    """Write a small executable Python script; return the argv prefix that starts it.

    The script answers ``--version`` with ``fake 1.0`` and otherwise runs ``body``.
    """

    def make(name: str, body: str) -> tuple[str, ...]:
        script = tmp_path / f"fake_{name}.py"
        script.write_text(
            "import sys, os, time, subprocess\n"
            "if sys.argv[1:] == ['--version']:\n"
            "    print('fake 1.0')\n"
            "    sys.exit(0)\n" + body,
            encoding="utf-8",
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return (sys.executable, str(script))

    return make
