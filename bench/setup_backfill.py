"""Set up the backfill benchmark: a real git history nobody here wrote, and wily as the peer.

Downloads successive released versions of ``rich`` from PyPI as sdists (``pip download
--no-deps --no-binary :all:``), commits each release's ``rich/`` package as one commit of a git
repository under ``bench/.work/rich-history`` (one commit a week, oldest release first), and
installs wily into its own virtual environment ``bench/.work/wily-venv``. Everything is cached:
a second run only adds what is missing.

    python bench/setup_backfill.py [--releases 24]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
SDISTS = WORK / "sdists"
HISTORY = WORK / "rich-history"
WILY_VENV = WORK / "wily-venv"

# Successive releases of rich 13 (a pure-Python package of about 30,000 lines).
RELEASES = (
    "13.0.0", "13.0.1", "13.1.0", "13.2.0", "13.3.0", "13.3.1", "13.3.2", "13.3.3", "13.3.4",
    "13.3.5", "13.4.0", "13.4.1", "13.4.2", "13.5.0", "13.5.1", "13.5.2", "13.5.3", "13.6.0",
    "13.7.0", "13.7.1", "13.8.0", "13.8.1", "13.9.0", "13.9.1", "13.9.2", "13.9.3", "13.9.4",
)
START = datetime(2023, 1, 2, 12, 0)


def _pip() -> list[str]:
    """A pip to download with: this interpreter's, else the first python3 on PATH with pip
    (the project's uv-made venv has no pip)."""
    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("python3", "python"):
        found = shutil.which(name)
        if found and subprocess.run([found, "-m", "pip", "--version"], capture_output=True,
                                    check=False).returncode == 0:
            return [found, "-m", "pip"]
    raise SystemExit("no pip found to download the sdists: install pip for python3")


def _python_with_venv() -> str:
    """An interpreter that can create a venv with pip (for wily)."""
    return _pip()[0]


def _sdist(version: str) -> Path:
    found = sorted(SDISTS.glob(f"rich-{version}.tar.gz"))
    if found:
        return found[0]
    SDISTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*_pip(), "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         "--dest", str(SDISTS), f"rich=={version}"],
        check=True,
    )
    return next(SDISTS.glob(f"rich-{version}.tar.gz"))


def _git(*args: str, when: datetime | None = None) -> None:
    env = dict(os.environ)
    if when is not None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    subprocess.run(["git", "-C", str(HISTORY), *args], check=True, env=env, capture_output=True)


def build_history(releases: int) -> list[str]:
    """Create (or reuse) the git history of the first ``releases`` versions; return them."""
    versions = list(RELEASES[:releases])
    marker = HISTORY / ".git" / "flext-bench-versions"
    if marker.exists() and marker.read_text().split() == versions:
        return versions
    shutil.rmtree(HISTORY, ignore_errors=True)
    HISTORY.mkdir(parents=True)
    _git("init", "-q", "-b", "main")
    _git("config", "user.email", "bench@example.com")
    _git("config", "user.name", "Bench")
    for index, version in enumerate(versions):
        with tarfile.open(_sdist(version)) as archive:
            members = [m for m in archive.getmembers() if "/rich/" in m.name and m.isfile()]
            shutil.rmtree(HISTORY / "rich", ignore_errors=True)
            for member in members:
                relative = member.name.split("/", 1)[1]
                target = HISTORY / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
        _git("add", "-A")
        _git("commit", "-q", "--allow-empty", "-m", f"rich {version}", when=START + timedelta(weeks=index))
    marker.write_text("\n".join(versions))
    return versions


def install_wily() -> Path:
    """wily in its own virtual environment (it pins its own dependencies)."""
    wily = WILY_VENV / "bin" / "wily"
    if not wily.exists():
        subprocess.run([_python_with_venv(), "-m", "venv", str(WILY_VENV)], check=True)
        subprocess.run([str(WILY_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "wily"],
                       check=True)
    return wily


def main() -> None:
    """Command-line entry."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=24, help="How many successive releases.")
    args = parser.parse_args()
    versions = build_history(min(args.releases, len(RELEASES)))
    lines = sum(p.read_text(encoding="utf-8").count("\n") for p in (HISTORY / "rich").rglob("*.py"))
    wily = install_wily()
    print(f"history: {HISTORY} ({len(versions)} commits, rich {versions[0]}..{versions[-1]}, "
          f"{lines} lines of Python at the newest)")
    print(f"wily: {wily}")


if __name__ == "__main__":
    main()
