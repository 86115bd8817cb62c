"""The "send a test notification" button's action: the one place the dashboard calls ``alerts``."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from storage.errors import FlextQualityError
from storage.store import MetricStore

__all__ = ["send_test"]


def send_test(db: Path, routes: Sequence[Any]) -> tuple[Literal["ok", "error"], str]:
    """Send a test notification to the alert routes; return ("ok" | "error", a message to show)."""
    try:
        # Imported lazily: the dashboard must work where the alerts layer is absent or older.
        notify = importlib.import_module("alerts.notify")
        send = notify.send_test_notification
    except (ImportError, AttributeError) as error:
        return "error", f"Test notifications are not available in this installation ({error})."
    try:
        outcomes = list(send(MetricStore(db), list(routes), purpose="alerts"))
    except FlextQualityError as error:
        return "error", f"Could not send: {error}"
    if not outcomes:
        return "error", "No alert route has an endpoint: nothing was sent."
    # Each outcome names a masked endpoint, whether it worked and why not.
    lines = [
        f"{getattr(o, 'endpoint', '?')}: {getattr(o, 'status', '?')}"
        + (f" ({o.error})" if getattr(o, "error", None) else "")
        for o in outcomes
    ]
    failed = sum(1 for o in outcomes if not getattr(o, "ok", False))
    summary = f"{len(outcomes) - failed} of {len(outcomes)} endpoints reached: " + "; ".join(lines)
    return ("error" if failed else "ok"), summary
