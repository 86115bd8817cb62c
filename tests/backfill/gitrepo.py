"""Building real git repositories for the backfill tests (no fixtures from disk)."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path


class GitRepo:
    """A throwaway repository with commits at chosen times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", "dev@example.com")
        self.git("config", "user.name", "Dev Eloper")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, when: datetime | None = None) -> str:
        env = dict(os.environ)
        if when is not None:
            stamp = when.strftime("%Y-%m-%dT%H:%M:%S+0000")
            env["GIT_AUTHOR_DATE"] = stamp
            env["GIT_COMMITTER_DATE"] = stamp
        proc = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, env=env,
            check=True,
        )
        return proc.stdout

    def write(self, path: str, text: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def commit(self, message: str, when: datetime, files: dict[str, str | None] | None = None) -> str:
        for path, text in (files or {}).items():
            if text is None:
                self.git("rm", "-q", path)
            else:
                self.write(path, text)
                self.git("add", path)
        self.git("commit", "-q", "--allow-empty", "-m", message, when=when)
        return self.git("rev-parse", "HEAD").strip()

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        """Every file outside .git with its mtime (ns) and content, to prove nothing changed."""
        state: dict[str, tuple[int, bytes]] = {}
        for path in sorted(self.root.rglob("*")):
            if ".git" in path.relative_to(self.root).parts or not path.is_file():
                continue
            state[path.relative_to(self.root).as_posix()] = (path.stat().st_mtime_ns, path.read_bytes())
        return state
