"""Setting values written the way people write them."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from alerts.notify import Notifier
from flext_quality.jobs import delivery_policy
from flext_quality.settings import Settings, load_settings
from storage.errors import ConfigError
from storage.store import MetricStore


@pytest.mark.parametrize("written", ["debug", "Debug", "DEBUG"])
def test_log_level_in_any_letter_case(written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_LOG_LEVEL", written)
    assert Settings().log_level == "DEBUG"


def test_an_unknown_log_level_is_still_refused() -> None:
    with pytest.raises(ValueError, match="log_level"):
        Settings(log_level="loud")


# The bounds as the README states them. Ages and intervals that meet datetime arithmetic stop
# at 100 years, in their own unit; timeouts and cache lifetimes at a day.
MAX_RETENTION_DAYS = 36_525
MAX_AGE_HOURS = 876_600
MAX_AGE_SECONDS = 3_155_760_000
MAX_TIMEOUT_S = 86_400
# Every number setting, with the largest value it takes.
LARGEST: list[tuple[str, int]] = [
    ("write_timeout_s", MAX_TIMEOUT_S),
    ("retention_days", MAX_RETENTION_DAYS),
    ("collect.timeout_s", MAX_TIMEOUT_S),
    ("notify.max_attempts", 1000),
    ("notify.backoff_base_s", MAX_AGE_SECONDS),
    ("notify.backoff_max_s", MAX_AGE_SECONDS),
    ("notify.breaker_cooldown_s", MAX_AGE_SECONDS),
    ("notify.max_age_hours", MAX_AGE_HOURS),
    ("notify.reminder_hours", MAX_AGE_HOURS),
    ("notify.stale_after_days", MAX_RETENTION_DAYS),
    ("sql.timeout_s", MAX_TIMEOUT_S),
    ("sql.row_limit", 1_000_000_000),
    ("dashboard.cache_ttl_s", MAX_TIMEOUT_S),
    ("scheduler.flush_every_minutes", 1440),
    ("scheduler.retry_minutes", 1440),
]


def _variable(key: str) -> str:
    return "FLEXT_QUALITY_" + key.upper().replace(".", "__")


def _value(settings: Settings, key: str) -> object:
    value: object = settings
    for part in key.split("."):
        value = getattr(value, part)
    return value


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No settings file and none of our variables: only what a test sets."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("FLEXT_QUALITY_"):
            monkeypatch.delenv(name)
    return monkeypatch


def _refused(key: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(None)
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"invalid setting {key}="), line
    return line


@pytest.mark.parametrize(("key", "largest"), LARGEST, ids=[k for k, _ in LARGEST])
def test_a_number_setting_takes_its_largest_value_and_refuses_more(
    clean_env: pytest.MonkeyPatch, key: str, largest: int
) -> None:
    clean_env.setenv(_variable(key), str(largest))
    assert _value(load_settings(None), key) == largest
    clean_env.setenv(_variable(key), str(largest + 1))
    line = _refused(key)
    assert f"={str(largest + 1)!r}: " in line, line
    assert f"less than or equal to {largest}" in line or f"up to {largest}" in line, line


def _number_keys() -> list[str]:
    """Every int or float setting, found from the declarations (new ones are covered too)."""
    keys: list[str] = []
    for name, field in Settings.model_fields.items():
        section = field.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            keys.extend(f"{name}.{sub}" for sub, f in section.model_fields.items()
                        if {int, float} & {f.annotation, *get_args(f.annotation)})
        elif {int, float} & {section, *get_args(section)}:
            keys.append(name)
    return keys


@pytest.mark.parametrize("written", ["inf", "-inf", "nan", "Infinity"])
@pytest.mark.parametrize("key", _number_keys())
def test_no_number_setting_takes_infinity_or_nan(
    clean_env: pytest.MonkeyPatch, key: str, written: str
) -> None:
    clean_env.setenv(_variable(key), written)
    line = _refused(key)
    assert f"={written!r}: " in line, line


def test_every_duration_has_its_upper_bound_checked_above() -> None:
    durations = {k for k in _number_keys() if k.rsplit("_", 1)[-1] in ("s", "hours", "days", "minutes")}
    assert "notify.max_age_hours" in durations
    missing = durations - {k for k, _ in LARGEST}
    assert not missing, f"give these an upper bound (le=...) and add them to LARGEST: {missing}"


def test_infinity_in_a_toml_file_is_refused_with_its_bounds(clean_env: pytest.MonkeyPatch) -> None:
    Path("flext-quality.toml").write_text("[notify]\nmax_age_hours = inf\n", encoding="utf-8")
    assert _refused("notify.max_age_hours") == (
        f"invalid setting notify.max_age_hours=inf: expected a finite number (greater than 0, "
        f"at most {MAX_AGE_HOURS})"
    )
    Path("flext-quality.toml").write_text("[[projects]]\nname = 'a'\npath = '.'\n"
                                          "every_minutes = 99999999999\n", encoding="utf-8")
    assert "less than or equal to 52596000" in _refused("projects.0.every_minutes")
    Path("flext-quality.toml").write_text("[[projects]]\nname = 'a'\npath = '.'\n"
                                          "every_minutes = 52596000\n", encoding="utf-8")
    assert load_settings(None).projects[0].every_minutes == 52_596_000


@pytest.mark.parametrize("written", ["inf", "1e12", "nan", str(MAX_AGE_HOURS + 1)])
def test_reminders_never_is_said_by_leaving_the_setting_unset(
    clean_env: pytest.MonkeyPatch, written: str
) -> None:
    clean_env.setenv("FLEXT_QUALITY_NOTIFY__REMINDER_HOURS", written)
    line = _refused("notify.reminder_hours")
    assert f"={written!r}: " in line and f"up to {MAX_AGE_HOURS}" in line, line
    assert "to never remind, leave notify.reminder_hours unset" in line, line
    clean_env.delenv("FLEXT_QUALITY_NOTIFY__REMINDER_HOURS")
    assert load_settings(None).notify.reminder_hours is None  # never: the default
    clean_env.setenv("FLEXT_QUALITY_NOTIFY__REMINDER_HOURS", "0.5")
    assert load_settings(None).notify.reminder_hours == 0.5


def test_the_largest_backoff_stays_a_finite_delay(clean_env: pytest.MonkeyPatch) -> None:
    for name in ("BACKOFF_BASE_S", "BACKOFF_MAX_S"):
        clean_env.setenv(f"FLEXT_QUALITY_NOTIFY__{name}", str(MAX_AGE_SECONDS))
    clean_env.setenv("FLEXT_QUALITY_NOTIFY__MAX_ATTEMPTS", "1000")
    settings = load_settings(None)
    notifier = Notifier(MetricStore(Path("unused.duckdb")), [], delivery_policy(settings))
    delay = notifier.backoff(settings.notify.max_attempts)  # past the last retry, even
    assert timedelta(0) < delay <= timedelta(seconds=MAX_AGE_SECONDS)


@pytest.mark.parametrize(
    "url",
    ["notaurl", "quality.example.com", "ftp://quality.example.com", "https://", "http:///gates",
     "https://quality.example.com:99999", "https://quality.example.com/?team=a",
     "https://quality.example.com/#top", "https://quality example.com", "http://[::1"],
)
def test_the_dashboard_url_must_be_a_web_address(clean_env: pytest.MonkeyPatch, url: str) -> None:
    clean_env.setenv("FLEXT_QUALITY_DASHBOARD__BASE_URL", url)
    line = _refused("dashboard.base_url")
    assert f"={url!r}: expected an http:// or https:// URL with a host" in line, line


@pytest.mark.parametrize(
    ("url", "kept"),
    [("https://quality.example.com", "https://quality.example.com"),
     ("http://10.0.0.5:8501/", "http://10.0.0.5:8501/"),
     ("https://intranet.example.com/quality", "https://intranet.example.com/quality"),
     ("", None)],  # an empty variable is no URL: no links
)
def test_a_web_address_is_kept_as_written(clean_env: pytest.MonkeyPatch, url: str, kept: str | None) -> None:
    clean_env.setenv("FLEXT_QUALITY_DASHBOARD__BASE_URL", url)
    assert load_settings(None).dashboard.base_url == kept


@pytest.mark.parametrize(
    ("projects", "says"),
    [
        ('[[projects]]\nname = "a"\npath = "{p}"\n[[projects]]\nname = "a"\npath = "{p}"\n',
         "projects.0 and projects.1 have the same name 'a'"),
        ('[[projects]]\nname = "a"\npath = "{p}"\ntools = ["rufff"]\n', "unknown tool 'rufff'"),
        ('[[projects]]\nname = "a"\npath = "{p}"\ntools = []\n', "name at least one tool"),
        ('[[projects]]\nname = "a"\npath = "{p}"\nat = "02:30"\nevery_minutes = 5\n',
         "either every_minutes or at, not both"),
        ('[[projects]]\nname = "a"\npath = "/etc"\n', "projects.0.path='/etc' is outside the allowed roots"),
    ],
)
def test_scheduled_projects_are_checked_at_start(tmp_path: Path, projects: str, says: str) -> None:
    config = tmp_path / "flext-quality.toml"
    config.write_text(f'allowed_roots = ["{tmp_path}"]\n' + projects.format(p=tmp_path), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_secret_files_set_top_level_and_nested_settings(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "FLEXT_QUALITY_WRITE_TIMEOUT_S").write_text("7\n")
    (secrets / "FLEXT_QUALITY_SQL__ROW_LIMIT").write_text("123\n")  # a nested key, as in the env
    (secrets / "SMTP_PASSWORD").write_text("not a setting: a ${SMTP_PASSWORD} placeholder value\n")
    clean_env.setenv("FLEXT_QUALITY_SECRETS_DIR", str(secrets))
    settings = load_settings(None)
    assert (settings.write_timeout_s, settings.sql.row_limit) == (7.0, 123)
    # a misspelt nested file is refused like a misspelt key, not ignored
    (secrets / "FLEXT_QUALITY_SQL__ROW_LIMITS").write_text("5\n")
    with pytest.raises(ConfigError, match=r"unknown secret file FLEXT_QUALITY_SQL__ROW_LIMITS in .*"
                       r"did you mean FLEXT_QUALITY_SQL__ROW_LIMIT\?"):
        load_settings(None)
    (secrets / "FLEXT_QUALITY_SQL__ROW_LIMITS").unlink()
    (secrets / "FLEXT_QUALITY_DB_PATH").write_text("elsewhere.duckdb\n")  # top level, misspelt
    with pytest.raises(ConfigError, match=r"unknown secret file FLEXT_QUALITY_DB_PATH in .*"
                       r"did you mean FLEXT_QUALITY_DB\?"):
        load_settings(None)
    (secrets / "FLEXT_QUALITY_DB_PATH").unlink()
    (secrets / "FLEXT_QUALITY_CONFIG").write_text(str(tmp_path / "other.toml"))  # env only
    with pytest.raises(ConfigError, match="FLEXT_QUALITY_CONFIG is read from the environment only"):
        load_settings(None)
