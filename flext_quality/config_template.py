"""The commented ``flext-quality.toml`` that ``flext-quality init`` writes, built from the settings.

Built from the field declarations, so it always lists every setting with its default and help.
``python -m flext_quality.config_template --markdown`` prints the README's settings table
from the same declarations; ``--update-readme README.md`` rewrites it in place (run it after
adding a setting).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from flext_quality.settings import Settings

__all__ = ["CONFIG_TEMPLATE", "main", "markdown_table", "setting_keys", "update_readme"]

_TABLES = ("projects", "gates", "routes")
_MACHINE_DEFAULTS = {("collect", "concurrency")}


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def _toml(value: Any) -> str:
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def setting_keys() -> list[str]:
    """Every settable key, dotted (``collect.timeout_s``), as documented in the README."""
    keys: list[str] = []
    for name, field in Settings.model_fields.items():
        default = _default(field)
        if isinstance(default, BaseModel):
            keys.extend(f"{name}.{sub}" for sub in type(default).model_fields)
        else:
            keys.append(name)
    return keys


# Keys without a default are written commented out with an example value, so that removing the
# "# " gives a valid setting (an empty string would be refused for most of them).
_EXAMPLES: dict[tuple[str, str], str] = {
    ("", "secrets_dir"): '"/run/secrets"',
    ("", "retention_days"): "365",
    ("collect", "coverage_file"): '"coverage.xml"',
    ("collect", "cache_dir"): '"/var/cache/flext-quality"',
    ("notify", "reminder_hours"): "24",
    ("dashboard", "base_url"): '"https://quality.example.com"',
}


def _unset(section: str, key: str) -> str:
    """The commented value of a key that has no default: an example to uncomment."""
    example = _EXAMPLES.get((section, key))
    return f"{example}  # example; not set by default" if example else '""'


def _render() -> str:
    lines = [
        "# flext-quality settings. Every key is optional; the values shown are the defaults.",
        "# Environment variables override this file: FLEXT_QUALITY_<KEY>, nested keys with __",
        "# (e.g. FLEXT_QUALITY_COLLECT__TIMEOUT_S=300). See README.md, section Settings.",
        "",
    ]
    sections: list[str] = []
    for name, field in Settings.model_fields.items():
        default = _default(field)
        if isinstance(default, BaseModel):
            sections.append(f"[{name}]")
            for sub, sub_field in type(default).model_fields.items():
                value = getattr(default, sub)
                help_text = sub_field.description or ""
                # Defaults that depend on the machine (number of cores) stay commented out,
                # so a copied file does not pin this machine's value elsewhere.
                prefix = "# " if value is None or (name, sub) in _MACHINE_DEFAULTS else ""
                shown = _unset(name, sub) if value is None else _toml(value)
                sections.append(f"# {help_text}")
                sections.append(f"{prefix}{sub} = {shown}")
            sections.append("")
        elif name in _TABLES:
            continue
        else:
            if name == "allowed_roots":
                default = ["."]
            lines.append(f"# {field.description or ''}")
            prefix = "# " if default is None else ""
            shown = _unset("", name) if default is None else _toml(default)
            lines.append(f"{prefix}{name} = {shown}")
    lines.append("")
    lines.extend(sections)
    lines.extend(
        [
            "# Projects collected by `flext-quality scheduler`:",
            "# [[projects]]",
            '# name = "backend"',
            '# path = "/srv/repos/backend"',
            "# every_minutes = 60          # or: at = \"02:30\"",
            "",
            "# Quality gates (see README, Gates):",
            "# [[gates]]",
            '# metric = "bandit.issues.high"',
            "# max = 0",
            "#",
            "# [[gates]]",
            '# metric = "ruff.issues"',
            "# max_increase = 10",
            '# against = "previous"         # "previous" | "baseline" | "7d"',
            '# projects = ["*"]',
            "",
            "# Notification routes (any Apprise URL; ${NAME} is read from the secrets dir or env):",
            "# [[routes]]",
            '# purpose = "alerts"',
            '# urls = ["slack://${SLACK_TOKEN}/#quality", "mailtos://user:${SMTP_PASSWORD}@mail.example.com?to=team@example.com"]',
            "",
        ]
    )
    return "\n".join(lines)


CONFIG_TEMPLATE = _render()


def _fields() -> list[tuple[str, FieldInfo, Any]]:
    """(dotted key, field, default) of every settable key, in declaration order."""
    rows: list[tuple[str, FieldInfo, Any]] = []
    for name, field in Settings.model_fields.items():
        default = _default(field)
        if isinstance(default, BaseModel):
            rows.extend(
                (f"{name}.{sub}", sub_field, getattr(default, sub))
                for sub, sub_field in type(default).model_fields.items()
            )
        else:
            rows.append((name, field, default))
    return rows


def _shown_default(key: str, default: Any) -> str:
    if key == "allowed_roots":
        return "the working directory"
    if key == "collect.concurrency":
        return "number of cores"
    if default is None:
        return "(none)"
    if isinstance(default, list) and default and isinstance(default[0], BaseModel):
        return "[]"
    return f"`{_toml(default)}`"


def markdown_table() -> str:
    """A Markdown table of every setting: key, environment variable, default, description."""
    lines = [
        "| key | environment variable | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for key, field, default in _fields():
        env = "FLEXT_QUALITY_" + key.upper().replace(".", "__")
        text = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{key}` | `{env}` | {_shown_default(key, default)} | {text} |")
    return "\n".join(lines)


TABLE_BEGIN = "<!-- settings-table:begin -->"
TABLE_END = "<!-- settings-table:end -->"


def update_readme(path: Path) -> None:
    """Replace the table between the settings-table markers of ``path`` with a fresh one."""
    text = path.read_text(encoding="utf-8")
    start, end = text.index(TABLE_BEGIN) + len(TABLE_BEGIN), text.index(TABLE_END)
    path.write_text(f"{text[:start]}\n{markdown_table()}\n{text[end:]}", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """``python -m flext_quality.config_template [--markdown | --update-readme README.md]``."""
    parser = argparse.ArgumentParser(description="Print the settings template or README table.")
    parser.add_argument("--markdown", action="store_true", help="print the README settings table")
    parser.add_argument("--update-readme", type=Path, metavar="README",
                        help="rewrite the table between the settings-table markers of README")
    args = parser.parse_args(argv)
    if args.update_readme:
        update_readme(args.update_readme)
    else:
        print(markdown_table() if args.markdown else CONFIG_TEMPLATE)


if __name__ == "__main__":
    main()
