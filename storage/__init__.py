"""The metric store: schema and migrations, append, rollups, queries, retention, export, SQL sandbox.

The lowest layer: it imports nothing from ``collectors``, ``alerts`` or ``dashboard``.
"""

from __future__ import annotations

from storage.errors import (
    ConfigError,
    DatabaseBusyError,
    FlextQualityError,
    NotifyError,
    ProjectError,
    SandboxError,
    SchemaVersionError,
    StoreError,
)
from storage.models import (
    FindingRecord,
    MetricSpec,
    RunRecord,
    RunResult,
    ToolRunRecord,
    finding_fingerprint,
)
from storage.store import MetricStore

__all__ = [
    "ConfigError",
    "DatabaseBusyError",
    "FindingRecord",
    "FlextQualityError",
    "MetricSpec",
    "MetricStore",
    "NotifyError",
    "ProjectError",
    "RunRecord",
    "RunResult",
    "SandboxError",
    "SchemaVersionError",
    "StoreError",
    "ToolRunRecord",
    "finding_fingerprint",
]
