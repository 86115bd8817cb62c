"""The project's exception tree, in one place.

Library code raises these; only the command line turns them into one line for a person and
an exit code. Per-tool and delivery failures are *results* (recorded, shown), not exceptions.

    FlextQualityError
    ├── ConfigError            a setting or configuration file is invalid
    ├── StoreError             the metric store cannot do what was asked
    │   ├── SchemaVersionError the database was written by a newer flext-quality
    │   ├── DatabaseBusyError  another process held the database for too long
    │   └── SandboxError       a query was refused or stopped by the SQL sandbox
    ├── ProjectError           a project path is missing, not allowed, or not analysable
    ├── NotifyError            a notification route is misconfigured (never a delivery failure)
    └── StoppedError           a shutdown killed the analyzers mid-run: nothing was stored
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatabaseBusyError",
    "FlextQualityError",
    "NotifyError",
    "ProjectError",
    "SandboxError",
    "SchemaVersionError",
    "StoppedError",
    "StoreError",
]


class FlextQualityError(Exception):
    """Base of every error flext-quality raises on purpose."""


class ConfigError(FlextQualityError):
    """A setting or a configuration file is invalid; the message names key, value and what is allowed."""


class StoreError(FlextQualityError):
    """The metric store cannot do what was asked."""


class SchemaVersionError(StoreError):
    """The database file was written by a newer version of flext-quality."""


class DatabaseBusyError(StoreError):
    """Another process held the database longer than the configured wait."""


class SandboxError(StoreError):
    """A query was refused or stopped by the read-only SQL sandbox."""


class ProjectError(FlextQualityError):
    """A project path is missing, outside the allowed roots, or cannot be analysed."""


class NotifyError(FlextQualityError):
    """A notification route is misconfigured (delivery failures are results, not errors)."""


class StoppedError(FlextQualityError):
    """A shutdown (SIGTERM to the scheduler) killed the analyzers mid-run: nothing was stored."""
