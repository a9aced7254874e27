"""The limit settings (followthrough/settings.py): defaults, and bad values refused at start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from followthrough.settings import Settings


class TestLimitSettings:
    def test_defaults(self) -> None:
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert (settings.max_body_bytes, settings.max_object_bytes, settings.rate_limit_writes,
                settings.rate_limit_events, settings.rate_limit_storage) == (
            262144, 16384, "120/minute", "30/minute", "memory://")

    def test_read_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FT_MAX_BODY_BYTES", "1048576")
        monkeypatch.setenv("FT_RATE_LIMIT_WRITES", "10/second;500/hour")
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert (settings.max_body_bytes, settings.rate_limit_writes) == (1048576, "10/second;500/hour")

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("rate_limit_writes", "lots", "not a rate limit such as '120/minute'"),
        ("rate_limit_events", "30 per fortnight", "not a rate limit such as '120/minute'"),
        ("rate_limit_storage", "bogus://x", "unknown rate-limit storage 'bogus'"),
        ("max_body_bytes", 10, "greater than or equal to 1024"),
        ("max_object_bytes", 0, "greater than or equal to 256"),
    ])
    def test_bad_values_are_refused(self, field: str, value: object, message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            Settings(_env_file=None, **{field: value})  # type: ignore[call-arg,arg-type]
