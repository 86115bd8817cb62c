"""The one-line messages of bad settings: which key, which value, and what is allowed."""

from __future__ import annotations

import json
import os
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

__all__ = ["describe", "undecodable"]


def _field_info(root: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo | None:
    """The declaration of the setting at ``loc`` (list indexes skipped), or None."""
    model: Any = root
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        info = fields[part]
        args = get_args(info.annotation)
        inner = (info.annotation, *args)
        model = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return info


def _range(info: FieldInfo | None) -> str:
    """The bounds declared on a number setting, e.g. ``greater than 0, at most 48``."""
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    found = [
        f"{words[name]} {getattr(item, name)}"
        for item in (info.metadata if info else [])
        for name in words
        if getattr(item, name, None) is not None
    ]
    return f" ({', '.join(found)})" if found else ""


def describe(error: ValidationError, root: type[BaseModel], *, time_of_day: str) -> str:
    """One line for the first error: the key, the value, and what is allowed."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "settings"
    value = first.get("input")
    shown = "(missing)" if first["type"] == "missing" else repr(value)
    message = first["msg"]
    if first["type"] == "value_error":  # our own validators' text, without pydantic's prefix
        message = str(first.get("ctx", {}).get("error", message))
    if first["type"] == "string_pattern_mismatch" and first.get("ctx", {}).get("pattern") == time_of_day:
        message = "expected a time of day HH:MM, 00:00 to 23:59"
    if first["type"] == "finite_number":
        message = f"expected a finite number{_range(_field_info(root, first['loc']))}"
    if first["type"] == "extra_forbidden":
        return f"invalid setting {key}: unknown key (check spelling; see README 'Settings')"
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | BaseModel) for v in value)
    ):
        # A whole table (a gate, the list of gates): the message names what is wrong in it.
        return f"invalid setting {key}: {message}"
    return f"invalid setting {key}={shown}: {message}"


def _field_at(root: type[BaseModel], path: list[str]) -> Any:
    """The annotation of the setting at ``path`` (lower-case keys), or None."""
    model: Any = root
    annotation: Any = None
    for key in path:
        fields = getattr(model, "model_fields", None)
        if not fields or key not in fields:
            return None
        annotation = fields[key].annotation
        model = next((a for a in (annotation, *get_args(annotation)) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)
    return annotation


def undecodable(error: SettingsError, root: type[BaseModel]) -> str:
    """One line naming the environment variable whose value is not the JSON it must be."""
    prefix = str(root.model_config.get("env_prefix", ""))
    for name, value in sorted(os.environ.items()):
        if not name.startswith(prefix) or name == "FLEXT_QUALITY_SECRETS_DIR":
            continue
        annotation = _field_at(root, name[len(prefix):].lower().split("__"))
        origin = get_origin(annotation)
        listed = list in (annotation, origin) or any(get_origin(a) is list for a in get_args(annotation))
        kind = (
            "a JSON list" if listed
            else "a JSON object" if dict in (annotation, origin)
            or (isinstance(annotation, type) and issubclass(annotation, BaseModel))
            else None
        )
        if kind is None:
            continue
        try:
            json.loads(value)
        except ValueError:
            return f"invalid setting {name}={value!r}: expected {kind}"
    return f"invalid setting: {error}"
