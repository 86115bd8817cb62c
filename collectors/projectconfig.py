"""Finding an analysed project's own tool configuration (it wins over our defaults).

A project's configuration may live in its own folder or, for a project in a sub-folder of a
repository (a monorepo), in a folder between it and the repository root: ruff and mypy, run
by hand in the project folder, look there too. :func:`config_folders` lists where to look.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

__all__ = [
    "config_folders",
    "config_text",
    "mypy_names_its_files",
    "pyproject_section",
    "setup_cfg_section",
]

#: What marks a repository root; mypy stops its own search for configuration there too.
REPOSITORY_MARKERS = (".git", ".hg")


def config_folders(root: Path) -> list[Path]:
    """Folders whose configuration files apply to the project at ``root``, nearest first.

    ``root``, then its parents up to and including its repository root (the nearest folder
    holding ``.git`` or ``.hg``). Never beyond it: configuration in a home or temporary folder
    above a repository is not the project's (that is what ruff's ``--isolated`` and mypy's
    ``--config-file=`` keep out). Outside any repository (a plain folder, or a backfill's
    temporary checkout, which holds only the project folder) that leaves ``root`` alone.
    """
    chain = [root, *root.parents]
    for index, folder in enumerate(chain):
        if any((folder / marker).exists() for marker in REPOSITORY_MARKERS):
            return chain[: index + 1]
    return [root]


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


def mypy_names_its_files(root: Path) -> bool:
    """Whether the mypy configuration in ``root`` says what to check (``files``/``packages``/``modules``).

    Looks at the file mypy itself reads in that folder: ``mypy.ini``, ``.mypy.ini``, then
    ``pyproject.toml`` with ``[tool.mypy]``, then ``setup.cfg`` with ``[mypy]``.
    """
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
                return any(key in section for key in _SCOPE_KEYS)
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section("mypy"):
            return any(parser.has_option("mypy", key) for key in _SCOPE_KEYS)
        if name != "setup.cfg":
            return False  # mypy reads a mypy.ini even without a [mypy] section
    return False
