"""Finding an analysed project's own tool configuration (it wins over our defaults).

A project's configuration may live in its own folder or, for a project in a sub-folder of a
repository (a monorepo), in a folder between it and the repository root: ruff and mypy, run
by hand in the project folder, look there too. :func:`config_folders` lists where to look;
for a backfill, which reads commits from git, :func:`config_paths_above` names the files to
take from each commit and :func:`mark_repository_root` marks its checkout's top.
"""

from __future__ import annotations

import configparser
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from collectors.cache import blob_sha

__all__ = [
    "CONFIG_FILE_NAMES",
    "RUFF_CONFIG_NAMES",
    "OuterConfig",
    "config_folders",
    "config_paths_above",
    "config_text",
    "mark_repository_root",
    "mypy_excludes",
    "mypy_names_its_files",
    "pyproject_section",
    "setup_cfg_section",
]

#: What marks a repository root; mypy stops its own search for configuration there too.
REPOSITORY_MARKERS = (".git", ".hg")

#: The files ruff and mypy read their configuration from, in the project folder or in a folder
#: above it up to the repository root. bandit is not among them: it reads only the project
#: folder's own ``.bandit`` or ``pyproject.toml`` (we pass it that file, and bandit itself
#: never looks upward), so what lies above a project never changes its results.
CONFIG_FILE_NAMES = ("ruff.toml", ".ruff.toml", "pyproject.toml", "mypy.ini", ".mypy.ini", "setup.cfg")

#: Files ruff reads its configuration from, at any depth (the closest one to a file applies).
RUFF_CONFIG_NAMES: frozenset[str] = frozenset({"pyproject.toml", "ruff.toml", ".ruff.toml"})


def config_folders(root: Path) -> list[Path]:
    """Folders whose configuration files apply to the project at ``root``, nearest first.

    ``root``, then its parents up to and including its repository root (the nearest folder
    holding ``.git`` or ``.hg``). Never beyond it: configuration in a home or temporary folder
    above a repository is not the project's (that is what ruff's ``--isolated`` and mypy's
    ``--config-file=`` keep out). Outside any repository (a plain folder) that leaves ``root``
    alone. A backfill's temporary checkout is marked as a repository root at its top
    (:func:`mark_repository_root`) and holds the configuration files of the folders between
    it and the project folder (:func:`config_paths_above`), so the answer there is the same
    as in a real checkout of that commit.
    """
    chain = [root, *root.parents]
    for index, folder in enumerate(chain):
        if any((folder / marker).exists() for marker in REPOSITORY_MARKERS):
            return chain[: index + 1]
    return [root]


def config_paths_above(prefix: str) -> list[str]:
    """Where configuration for the project at ``prefix`` may lie above it, repository-relative.

    ``prefix`` is the project folder's POSIX path in its repository (``""`` at the root). The
    answer holds every :data:`CONFIG_FILE_NAMES` name in each folder from the repository root
    down to the project folder's parent (root first); empty for a project at the root. A
    backfill reads these from each commit, so its checkout of a monorepo's sub-project sees
    what :func:`config_folders` finds above that project in a real checkout.
    """
    parts = [part for part in prefix.split("/") if part]
    folders = ["/".join(parts[:depth]) for depth in range(len(parts))]
    return [f"{folder}/{name}" if folder else name for folder in folders for name in CONFIG_FILE_NAMES]


def mark_repository_root(folder: Path) -> None:
    """Mark ``folder`` as a repository root (an empty ``.git`` folder), as a backfill's checkout top.

    :func:`config_folders`, ruff's and mypy's own searches then stop there and nothing in the
    folders above it (a temporary directory, a home) is taken for the project's configuration.
    git itself does not take an empty ``.git`` folder for a repository.
    """
    (folder / REPOSITORY_MARKERS[0]).mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True, slots=True)
class OuterConfig:
    """Configuration files in the folders above a project folder, up to its repository root.

    ``prefix`` is the project folder's POSIX path in the repository (``""`` at its root);
    ``files`` maps each file to its blob sha (git's id of its bytes), by repository-relative
    path; ``linked`` says one of them is a symlink (or unreadable), whose target is unknown.
    """

    prefix: str = ""
    files: Mapping[str, str] = field(default_factory=dict)
    linked: bool = False

    @classmethod
    def on_disk(cls, root: Path, names: Iterable[str] = CONFIG_FILE_NAMES) -> OuterConfig:
        """The files called ``names`` above ``root`` on disk, up to its repository root."""
        folders = config_folders(root)
        if len(folders) < 2:
            return cls()
        top = folders[-1]
        files: dict[str, str] = {}
        for folder in folders[1:]:
            for name in sorted(names):
                target = folder / name
                try:
                    if target.is_symlink():
                        return cls(linked=True)
                    if target.is_file():
                        files[target.relative_to(top).as_posix()] = blob_sha(target.read_bytes())
                except OSError:
                    return cls(linked=True)
        return cls(root.relative_to(top).as_posix(), files)


def pyproject_section(root: Path, tool: str) -> str | None:
    """The ``[tool.<tool>]`` table of ``root/pyproject.toml`` as canonical text, if present."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    section = data.get("tool", {}).get(tool)
    return None if section is None else repr(sorted(section.items()))


def setup_cfg_section(root: Path, name: str, file: str = "setup.cfg") -> str | None:
    """Sections ``[name]`` and ``[name-*]`` of an ini-style file as text, if present."""
    path = root / file
    if not path.is_file():
        return None
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    wanted = [s for s in parser.sections() if s == name or s.startswith(name + "-")]
    if not wanted:
        return None
    return repr([(s, sorted(parser.items(s))) for s in wanted])


def config_text(root: Path, name: str) -> str | None:
    """The text of ``root/name`` when it is a file, else ``None``."""
    path = root / name
    try:
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    except OSError:
        return None


_SCOPE_KEYS = ("files", "packages", "modules")


def _mypy_section(root: Path) -> dict[str, object] | None:
    """The ``[mypy]`` options of the file mypy itself reads in ``root`` (``mypy.ini``,
    ``.mypy.ini``, ``pyproject.toml`` with ``[tool.mypy]``, ``setup.cfg`` with ``[mypy]``)."""
    for name in ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg"):
        path = root / name
        if not path.is_file():
            continue
        if name == "pyproject.toml":
            try:
                section = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("mypy")
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            if isinstance(section, dict):
                return section
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section("mypy"):
            return dict(parser.items("mypy"))
        if name != "setup.cfg":
            return {}  # mypy reads a mypy.ini even without a [mypy] section
    return None


def mypy_excludes(root: Path) -> list[str]:
    """The ``exclude`` regular expressions of the mypy configuration in ``root``, as mypy
    reads them (a string, or in ``pyproject.toml`` also a list of strings)."""
    value = (_mypy_section(root) or {}).get("exclude")
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return []


def mypy_names_its_files(root: Path) -> bool:
    """Whether the mypy configuration in ``root`` says what to check (``files``/``packages``/``modules``).

    Looks at the file mypy itself reads in that folder: ``mypy.ini``, ``.mypy.ini``, then
    ``pyproject.toml`` with ``[tool.mypy]``, then ``setup.cfg`` with ``[mypy]``.
    """
    section = _mypy_section(root) or {}
    return any(key in section for key in _SCOPE_KEYS)
