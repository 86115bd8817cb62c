"""Settings: one pydantic-settings class, loaded at the entry points and passed down.

Sources, lowest to highest priority: defaults in code, ``flext-quality.toml`` (or
``--config PATH``), secret files in ``secrets_dir`` (as Docker and Kubernetes mount them),
environment variables ``FLEXT_QUALITY_*`` (nested keys with ``__``), then command-line flags.
Apprise URLs may contain ``${NAME}`` placeholders, filled from a secret file ``NAME`` in the
secrets directory or from the environment variable ``NAME``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from alerts.config import GateSpec, RouteSpec, gate_ids
from flext_quality.settings_errors import describe, undecodable
from storage.errors import ConfigError

__all__ = [
    "DEFAULT_RUFF_SELECT",
    "MAX_AGE_HOURS",
    "MAX_AGE_SECONDS",
    "MAX_RETENTION_DAYS",
    "MAX_TIMEOUT_S",
    "TOOL_NAMES",
    "CollectSettings",
    "DashboardSettings",
    "NotifySettings",
    "ProjectSettings",
    "SchedulerSettings",
    "Settings",
    "SqlSettings",
    "load_settings",
]

ToolName = Literal["ruff", "mypy", "bandit", "coverage", "complexity", "suppressions"]
TOOL_NAMES: tuple[ToolName, ...] = ("ruff", "mypy", "bandit", "coverage", "complexity", "suppressions")

# ruff 0.17's default set is ~400 rules; this default keeps the long-standing core (pyflakes,
# pycodestyle errors and warnings, mccabe is left to the complexity analyzer), bugbear, pyupgrade
# and a few cheap correctness families, so counts stay comparable between projects.
DEFAULT_RUFF_SELECT: tuple[str, ...] = ("E4", "E7", "E9", "F", "W", "B", "UP", "PLE", "RUF100")

_DEFAULT_CONFIG_FILE = "flext-quality.toml"
_TIME_OF_DAY = r"^([01]\d|2[0-3]):[0-5]\d$"
_DEFAULT_SECRETS_DIR = Path("/run/secrets")
_ENV_PREFIX = "FLEXT_QUALITY_"
# A century: a longer age puts the cutoff before year 1, which no timestamp can hold. Every
# age or interval that is added to or taken from a time is held to it (in its own unit), so
# that no setting can make that arithmetic overflow.
MAX_RETENTION_DAYS = 36_525
MAX_AGE_HOURS = MAX_RETENTION_DAYS * 24
MAX_AGE_SECONDS = MAX_AGE_HOURS * 3600
_MAX_AGE_MINUTES = MAX_AGE_HOURS * 60
# A day for timeouts and cache lifetimes. Waits are handed to the OS, and poll() takes at most
# about 24.8 days (2**31 ms): a longer analyzer timeout would end in OverflowError.
MAX_TIMEOUT_S = 86_400
_MINUTES_A_DAY = 1440
# Variables with our prefix that are not settings: the settings file to read (for every command,
# and the one `flext-quality dashboard` hands to its Streamlit process), and the test suite's
# switch for the real-browser test.
_NOT_SETTINGS = frozenset({"FLEXT_QUALITY_CONFIG", "FLEXT_QUALITY_REQUIRE_BROWSER"})


class _Section(BaseModel):
    # No NaN or infinity anywhere: "inf" would pass `gt=0` and crash the time arithmetic later.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class CollectSettings(_Section):
    """How analyzers run."""

    tools: list[ToolName] = Field(
        default_factory=lambda: list(TOOL_NAMES),
        description="Analyzers to run by default.",
    )
    concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 2,
        ge=1,
        le=64,
        description="Analyzers run at once (default: number of cores).",
    )
    timeout_s: float = Field(
        default=600.0, gt=0, le=MAX_TIMEOUT_S,
        description=f"Timeout per analyzer run, seconds (at most {MAX_TIMEOUT_S}, a day).",
    )
    excludes: list[str] = Field(default_factory=list, description="Extra glob patterns of paths to skip.")
    ruff_select: list[str] = Field(
        default_factory=lambda: list(DEFAULT_RUFF_SELECT),
        description="ruff rules used when the project has no ruff configuration.",
    )
    mypy_args: list[str] = Field(
        default_factory=lambda: ["--ignore-missing-imports"],
        description="mypy options used when the project has no mypy configuration.",
    )
    bandit_skip_tests: bool = Field(
        default=True, description="Leave test folders out of bandit (B101 asserts)."
    )
    coverage_file: str | None = Field(
        default=None,
        description="Coverage data relative to the project (default: coverage.json, then coverage.xml).",
    )
    coverage_run_tests: bool = Field(
        default=False, description="Run the project's tests under coverage when no data exists."
    )
    coverage_test_args: list[str] = Field(
        default_factory=lambda: ["-m", "pytest", "-q", "-x"],
        description="Arguments after `coverage run --branch` when running tests.",
    )
    complexity_limit: int = Field(
        default=10, ge=1, description="Cyclomatic complexity above which a function counts as complex."
    )
    executables: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Command (argv prefix) that starts a tool, by tool name, e.g. {ruff = [\"/opt/ruff\"]}.",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="Folder for mypy's incremental cache (default: .cache beside the database).",
    )


class NotifySettings(_Section):
    """Delivery of alerts and reports."""

    # At most 1000: the retry delay is base * 2**(attempts - 1), a float, and 2**1024 is too
    # large for one (OverflowError); 1000 tries of even the default backoff take over 40 days.
    max_attempts: int = Field(
        default=8, ge=1, le=1000, description="Delivery attempts before giving up (1 to 1000)."
    )
    backoff_base_s: float = Field(
        default=30.0, gt=0, le=MAX_AGE_SECONDS,
        description=f"First retry delay, doubled each time, seconds (at most {MAX_AGE_SECONDS}, "
        "100 years).",
    )
    backoff_max_s: float = Field(
        default=3600.0, gt=0, le=MAX_AGE_SECONDS,
        description=f"Longest retry delay, seconds (at most {MAX_AGE_SECONDS}, 100 years).",
    )
    breaker_threshold: int = Field(
        default=3, ge=1, description="Failures in a row that open a route's circuit."
    )
    breaker_cooldown_s: float = Field(
        default=300.0, gt=0, le=MAX_AGE_SECONDS,
        description=f"How long an open circuit skips its route, seconds (at most {MAX_AGE_SECONDS}, "
        "100 years).",
    )
    max_age_hours: float = Field(
        default=48.0, gt=0, le=MAX_AGE_HOURS,
        description="Age after which an undelivered message is failed, hours (at most "
        f"{MAX_AGE_HOURS}, 100 years).",
    )
    reminder_hours: float | None = Field(
        default=None, gt=0, le=MAX_AGE_HOURS,
        description=f"Remind every N hours while a gate stays red (at most {MAX_AGE_HOURS}, "
        "100 years; leave it unset for never, the default).",
    )
    stale_after_runs: int = Field(
        default=3, ge=1, description="Runs without a metric before its gate is stale."
    )
    stale_after_days: float = Field(
        default=14.0, gt=0, le=MAX_RETENTION_DAYS,
        description=f"Days without a metric before its gate is stale (at most {MAX_RETENTION_DAYS}, "
        "100 years).",
    )

    @field_validator("reminder_hours", mode="before")
    @classmethod
    def _never_is_unset(cls, value: Any) -> Any:
        # "inf" (or a huge number) is how people write "never"; that is the default, unset.
        try:
            hours = float(value)
        except (TypeError, ValueError):
            return value  # not a number at all: pydantic's own message says so
        if not math.isfinite(hours) or hours > MAX_AGE_HOURS:
            raise ValueError(
                f"expected a number of hours up to {MAX_AGE_HOURS} (100 years); to never remind, leave "
                "notify.reminder_hours unset (the default)"
            )
        return value


class SqlSettings(_Section):
    """The read-only SQL sandbox (dashboard page and `flext-quality sql`)."""

    timeout_s: float = Field(
        default=10.0, gt=0, le=MAX_TIMEOUT_S,
        description=f"Time limit per query, seconds (at most {MAX_TIMEOUT_S}, a day).",
    )
    # DuckDB's LIMIT takes a 64-bit integer, so a larger row_limit would fail every query; a
    # billion rows is more than any sandbox result needs.
    row_limit: int = Field(
        default=10_000, ge=1, le=1_000_000_000,
        description="Most rows a query returns (at most 1000000000).",
    )
    memory_limit: str = Field(
        default="1GB",
        pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$",
        description="DuckDB memory limit of the sandbox.",
    )
    # At most 2048: DuckDB's Arrow output fails past 2 GiB of strings in one batch, and the
    # sandbox reports that failure as "larger than max_result_mb", true only below 2 GiB.
    max_result_mb: int = Field(
        default=100,
        ge=1,
        le=2048,
        description="Most megabytes a query's result may hold (1 to 2048); a larger one stops "
        "with a message.",
    )


class DashboardSettings(_Section):
    """The Streamlit dashboard."""

    port: int = Field(default=8501, ge=1, le=65535, description="Port the dashboard serves on.")
    base_url: str | None = Field(
        default=None,
        description="Public URL of the dashboard (http:// or https://), for links in alerts.",
    )
    cache_ttl_s: int = Field(
        default=30, ge=1, le=MAX_TIMEOUT_S,
        description=f"Seconds a page's data may be reused (at most {MAX_TIMEOUT_S}, a day).",
    )
    score_metric: str = Field(
        default="quality.score", min_length=1,
        description="Metric shown as each project's score on the Overview.",
    )
    page_size: int = Field(
        default=50, ge=5, le=1000, description="Projects per page on the Overview."
    )

    @field_validator("base_url")
    @classmethod
    def _web_address(cls, url: str | None) -> str | None:
        # It becomes the link in every alert and report: a typo would go out in each of them.
        # Empty is unset (no links), as an environment variable set to "" is meant.
        if not url:
            return None
        if not _is_web_address(url):
            raise ValueError(
                "expected an http:// or https:// URL with a host and no ?query or #fragment, "
                "e.g. 'https://quality.example.com'"
            )
        return url


def _is_web_address(url: str) -> bool:
    """True for an http(s) URL with a host and a valid port, and no query, fragment or spaces.

    Links are made by appending ``/gates?project=...``, which a query or fragment would break.
    """
    try:
        parts = urlsplit(url)
        port_ok = parts.port != 0  # reading .port raises ValueError for one past 65535
    except ValueError:  # a port that is not a number, an unclosed [IPv6 address
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and port_ok
        and not parts.query
        and not parts.fragment
        and not any(c.isspace() for c in url)
    )


class ProjectSettings(_Section):
    """A project the scheduler collects."""

    name: str = Field(min_length=1)
    path: Path
    every_minutes: int | None = Field(
        default=None, ge=1, le=_MAX_AGE_MINUTES,
        description=f"Collect every N minutes (at most {_MAX_AGE_MINUTES}, 100 years).",
    )
    at: str | None = Field(default=None, pattern=_TIME_OF_DAY, description="Or collect daily at HH:MM.")
    tools: list[str] | None = None

    @field_validator("tools", mode="after")
    @classmethod
    def _known_tools(cls, tools: list[str] | None) -> list[str] | None:
        if tools is None:
            return None
        if not tools:
            raise ValueError("name at least one tool, or leave tools out for collect.tools")
        unknown = [t for t in tools if t not in TOOL_NAMES]
        if unknown:
            raise ValueError(f"unknown tool {unknown[0]!r}: choose from {', '.join(TOOL_NAMES)}")
        return tools

    @model_validator(mode="after")
    def _one_schedule(self) -> ProjectSettings:
        if self.at is not None and self.every_minutes is not None:
            raise ValueError("give either every_minutes or at, not both")
        return self


class SchedulerSettings(_Section):
    """Jobs of `flext-quality scheduler`."""

    report_day: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "daily"
    ] = Field(default="monday", description="Day of the scheduled report ('daily' for every day).")
    report_at: str = Field(
        default="09:00", pattern=_TIME_OF_DAY, description="Time of the scheduled report."
    )
    report_period: Literal["day", "week", "month"] = Field(
        default="week", description="Period a scheduled report covers."
    )
    maintenance_at: str = Field(
        default="03:00", pattern=_TIME_OF_DAY, description="Daily time of rollup and retention."
    )
    flush_every_minutes: int = Field(
        default=5, ge=1, le=_MINUTES_A_DAY,
        description=f"How often the outbox is retried, minutes (at most {_MINUTES_A_DAY}, a day).",
    )
    retry_minutes: int = Field(
        default=10, ge=0, le=_MINUTES_A_DAY,
        description="A failed job is tried again this often until it succeeds, while that comes "
        "before its next regular run (0: wait for the next regular run).",
    )


class Settings(BaseSettings):
    """All settings of flext-quality (documented one by one in the README)."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        allow_inf_nan=False,
    )

    db: Path = Field(default=Path("data/quality.duckdb"), description="The DuckDB database file.")
    allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path.cwd()],
        description="Project paths must lie inside one of these (environment: paths joined by ':').",
    )
    secrets_dir: Path | None = Field(
        default=None, description="Folder of secret files (default /run/secrets when it exists)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="WARNING", description="Log level: DEBUG, INFO, WARNING or ERROR (any letter case)."
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RETENTION_DAYS,
        description="Drop raw measures older than this after they are rolled up (default: keep all).",
    )
    write_timeout_s: float = Field(
        default=120.0, gt=0, le=MAX_TIMEOUT_S,
        description=f"Longest wait for the database writer lock, seconds (at most {MAX_TIMEOUT_S}, "
        "a day).",
    )
    collect: CollectSettings = Field(default_factory=CollectSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    sql: SqlSettings = Field(default_factory=SqlSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    projects: list[ProjectSettings] = Field(
        default_factory=list, description="Projects the scheduler collects."
    )
    gates: list[GateSpec] = Field(default_factory=list, description="Quality gates.")
    routes: list[RouteSpec] = Field(default_factory=list, description="Notification routes.")

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in value.split(":") if part]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        # `debug` as logging itself spells it in many configurations
        return value.upper() if isinstance(value, str) else value

    @field_validator("gates", mode="after")
    @classmethod
    def _distinct_gate_ids(cls, gates: list[GateSpec]) -> list[GateSpec]:
        gate_ids(gates)  # each id keys one alert state: a shared one would alert on every run
        return gates

    @field_validator("projects", mode="after")
    @classmethod
    def _distinct_projects(cls, projects: list[ProjectSettings]) -> list[ProjectSettings]:
        seen: dict[str, int] = {}
        for n, project in enumerate(projects):
            if project.name in seen:
                raise ValueError(
                    f"projects.{seen[project.name]} and projects.{n} have the same name "
                    f"{project.name!r}: their runs would mix in one project; give each its own name"
                )
            seen[project.name] = n
        return projects

    @model_validator(mode="after")
    def _projects_inside_allowed_roots(self) -> Settings:
        for n, project in enumerate(self.projects):
            path = project.path.expanduser().resolve()
            if not any(path == root or path.is_relative_to(root) for root in self.allowed_roots):
                raise ValueError(
                    f"projects.{n}.path={str(project.path)!r} is outside the allowed roots "
                    f"({', '.join(str(r) for r in self.allowed_roots)}): add a root to allowed_roots"
                )
        return self

    @field_validator("allowed_roots", mode="after")
    @classmethod
    def _resolve_roots(cls, value: list[Path]) -> list[Path]:
        if not value:
            raise ValueError("at least one allowed root is needed")
        return [p.expanduser().resolve() for p in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = cls.model_config.get("toml_file")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.model_config.get("secrets_dir"):
            # Files named like the environment variables, nested keys too
            # (FLEXT_QUALITY_SQL__MAX_ROWS), as the plain source reads only top-level ones.
            sources.append(NestedSecretsSettingsSource(file_secret_settings))
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _fill_secrets(text: str, secrets_dir: Path | None) -> str:
    """``text`` with every ``${NAME}`` filled, encoded for its place in the URL.

    A filled value is secret wherever it lands in the URL (also in a webhook path or host that
    Apprise's privacy form shows), so it is registered for masking before anything can show,
    store or log the filled URL. It is percent-encoded for where it sits (an ``@`` or ``/`` in
    a password must not end it): see :mod:`alerts.placeholders`.
    """
    if not _PLACEHOLDER.search(text):
        return text
    # Imported here: masking loads Apprise, which only URLs with placeholders need now.
    from alerts.placeholders import fill_placeholders

    def lookup(name: str) -> str:
        if secrets_dir is not None and (secrets_dir / name).is_file():
            return (secrets_dir / name).read_text(encoding="utf-8").strip()
        if name in os.environ:
            return os.environ[name]
        raise ConfigError(
            f"secret ${{{name}}} is not set: put it in a file {name} in the secrets "
            "directory or in the environment"
        )

    return fill_placeholders(text, lookup)


def _environment_names() -> tuple[set[str], set[str]]:
    """Variable names that set a setting, and prefixes under which any name does (dicts)."""
    names: set[str] = set()
    open_prefixes: set[str] = set()
    for name, field in Settings.model_fields.items():
        top = f"{_ENV_PREFIX}{name.upper()}"
        names.add(top)
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            for sub, sub_field in section.model_fields.items():
                names.add(f"{top}__{sub.upper()}")
                if dict in (sub_field.annotation, get_origin(sub_field.annotation)):
                    open_prefixes.add(f"{top}__{sub.upper()}__")
    return names, open_prefixes


def _check_environment(
    environ: Iterable[str], what: str = "environment variable", where: str = ""
) -> None:
    """Refuse a ``FLEXT_QUALITY_*`` variable that sets nothing, as unknown TOML keys are refused.

    A misspelt variable would otherwise be ignored without a word, and the default used. The
    same goes for the names of secret files (``what``), which are read like the variables.
    """
    names, open_prefixes = _environment_names()
    # FLEXT_QUALITY_CONFIG and the test switch are read from the environment only
    others = _NOT_SETTINGS if what == "environment variable" else frozenset()
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(_ENV_PREFIX) or upper in names or upper in others:
            continue
        if any(upper.startswith(prefix) for prefix in open_prefixes):
            continue
        if upper in _NOT_SETTINGS:
            raise ConfigError(f"{what} {variable}{where} sets nothing: {upper} is read from the "
                              "environment only")
        close = difflib.get_close_matches(upper, sorted(names | others), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"unknown {what} {variable}{where}: {hint}(settings are listed in README 'Settings')"
        )


def load_settings(config: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings from every source; raise :class:`ConfigError` with one readable line.

    ``config`` is an explicit TOML file (must exist); otherwise the file named by
    ``FLEXT_QUALITY_CONFIG`` (must exist too), else ``flext-quality.toml`` in the working
    directory when present. ``overrides`` are command-line flags (``None`` values are ignored).
    """
    named_by = "--config"
    if config is None and os.environ.get("FLEXT_QUALITY_CONFIG"):
        config, named_by = Path(os.environ["FLEXT_QUALITY_CONFIG"]), "FLEXT_QUALITY_CONFIG"
    if config is not None and not config.is_file():
        raise ConfigError(f"config file {config} does not exist (named by {named_by})")
    _check_environment(dict(os.environ))
    toml_file = config or (Path(_DEFAULT_CONFIG_FILE) if Path(_DEFAULT_CONFIG_FILE).is_file() else None)
    secrets_env = os.environ.get("FLEXT_QUALITY_SECRETS_DIR")
    secrets_dir = (
        Path(secrets_env)
        if secrets_env
        else (_DEFAULT_SECRETS_DIR if _DEFAULT_SECRETS_DIR.is_dir() else None)
    )
    if secrets_dir is not None and not secrets_dir.is_dir():
        raise ConfigError(f"invalid setting secrets_dir={str(secrets_dir)!r}: not a directory")
    if secrets_dir is not None:
        _check_environment((p.name for p in secrets_dir.iterdir()), "secret file", f" in {secrets_dir}")
    config_dict = SettingsConfigDict(**Settings.model_config)
    config_dict["toml_file"] = toml_file
    config_dict["secrets_dir"] = secrets_dir
    loader = type("LoadedSettings", (Settings,), {"model_config": config_dict})
    init = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        settings: Settings = loader(**init)
    except ValidationError as error:
        raise ConfigError(describe(error, Settings, time_of_day=_TIME_OF_DAY)) from None
    except SettingsError as error:  # an environment variable or secret file that is not JSON
        raise ConfigError(undecodable(error, Settings)) from None
    except (OSError, ValueError) as error:  # a TOML syntax error or unreadable file
        raise ConfigError(f"cannot read config {toml_file}: {error}") from None
    if secrets_dir is not None and settings.secrets_dir is None:
        settings = settings.model_copy(update={"secrets_dir": secrets_dir})
    routes = [
        route.model_copy(update={"urls": [_fill_secrets(u, settings.secrets_dir) for u in route.urls]})
        for route in settings.routes
    ]
    return settings.model_copy(update={"routes": routes})
