"""Commands of this area (registered on the main group by :func:`register`)."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add this module's commands to ``group``."""
