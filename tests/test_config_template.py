"""The commented settings file that `flext-quality init` writes."""

from __future__ import annotations

import re
from pathlib import Path

from flext_quality.config_template import CONFIG_TEMPLATE
from flext_quality.settings import load_settings


def test_every_commented_out_key_is_valid_once_uncommented(tmp_path: Path) -> None:
    # "# key = value" lines (not the help lines above them, nor the [[tables]] examples)
    commented = re.compile(r"^# ([a-z_]+ = .*)$")
    text = CONFIG_TEMPLATE.split("# Projects collected by")[0]
    enabled = [commented.sub(r"\1", line) for line in text.splitlines()]
    assert enabled != text.splitlines()  # some keys are commented out
    path = tmp_path / "flext-quality.toml"
    path.write_text("\n".join(enabled) + "\n", encoding="utf-8")
    settings = load_settings(path)  # a bad value would stop here with its one line
    assert settings.retention_days == 365 and settings.notify.reminder_hours == 24
    assert settings.dashboard.base_url == "https://quality.example.com"
