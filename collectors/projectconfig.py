"""Finding an analysed project's own tool configuration (it wins over our defaults)."""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

__all__ = ["config_text", "mypy_names_its_files", "pyproject_section", "setup_cfg_section"]


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
    """Whether the project's mypy configuration says what to check (``files``/``packages``/``modules``)."""
    path = root / "pyproject.toml"
    if path.is_file():
        try:
            section = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("mypy")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            section = None
        if isinstance(section, dict):
            return any(key in section for key in _SCOPE_KEYS)
    for name in ("mypy.ini", ".mypy.ini", "setup.cfg"):
        ini = root / name
        if not ini.is_file():
            continue
        parser = configparser.RawConfigParser()
        try:
            parser.read(ini, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_section("mypy"):
            return any(parser.has_option("mypy", key) for key in _SCOPE_KEYS)
    return False
