"""Setting values written the way people write them."""

from __future__ import annotations

import pytest

from flext_quality.settings import Settings


@pytest.mark.parametrize("written", ["debug", "Debug", "DEBUG"])
def test_log_level_in_any_letter_case(written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEXT_QUALITY_LOG_LEVEL", written)
    assert Settings().log_level == "DEBUG"


def test_an_unknown_log_level_is_still_refused() -> None:
    with pytest.raises(ValueError, match="log_level"):
        Settings(log_level="loud")
