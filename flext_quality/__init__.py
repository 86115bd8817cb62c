"""flext-quality: code-quality trends for Python codebases (entry points: settings, CLI, scheduler)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
