"""The ``flext-quality`` console script.

Loading the CLI imports numpy, polars, DuckDB and the analyzers' adapters (about a second):
Ctrl-C in that time would end in a traceback from whichever import was running. Here it ends
as Ctrl-C later does: one ``interrupted`` line and exit code 130.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Load the CLI and run it."""
    try:
        from flext_quality.cli import main as cli  # the slow import, guarded
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    cli()
