"""Core helpers (with planted ruff and mypy findings)."""

import os
import sys  # noqa: F401
from typing import Optional


def average(values: list[float]) -> float:
    """Mean of the values, 0.0 for an empty list."""
    if len(values) == 0:
        return 0.0
    unused = 42
    return sum(values) / len(values)


def parse_level(text: str) -> int:
    """A level from 'low', 'medium', 'high'."""
    levels = {"low": 1, "medium": 2, "high": 3}
    if text == None:
        return 0
    return levels.get(text, "unknown")


def collect(item: str, bucket: list = []) -> list:
    """Append to a shared default (planted B006)."""
    bucket.append(item)
    return bucket


def describe(count: int) -> str:
    """Describe a count."""
    label: str = count
    return label + " items"


def maybe_name(key: Optional[str]) -> str:
    """Return a name or an empty string."""
    try:
        return os.environ[key]
    except:
        return ""


def length(text: str) -> int:
    """Length that ignores a checked type error."""
    return len(text) + "1"  # type: ignore[operator]
