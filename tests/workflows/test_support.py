"""The delivery activity's timeouts against the door's deadline and the providers' timeouts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from activities.delivery import HEARTBEAT_EVERY, RECORD_RESERVE
from activities.door import ATTEMPT_MARGIN
from followthrough.settings import PROVIDER_TIMEOUT_MAX, Settings
from worker import HEARTBEAT_THROTTLE
from workflows._support import DELIVERY_HEARTBEAT, DELIVERY_RETRY, DELIVERY_START_TO_CLOSE


class TestDeliveryTimeouts:
    def test_an_attempts_deadline_falls_within_its_start_to_close(self) -> None:
        # The slowest provider call allowed plus the door's margin: 60 s + 30 s < 120 s.
        assert PROVIDER_TIMEOUT_MAX + ATTEMPT_MARGIN.total_seconds() == 90.0
        assert DELIVERY_START_TO_CLOSE.total_seconds() == 120.0

    def test_the_provider_call_ends_before_the_time_kept_for_recording(self) -> None:
        assert RECORD_RESERVE.total_seconds() == 15.0 and RECORD_RESERVE < ATTEMPT_MARGIN

    def test_heartbeats_leave_a_loaded_worker_over_twenty_seconds(self) -> None:
        room = DELIVERY_HEARTBEAT - HEARTBEAT_EVERY - HEARTBEAT_THROTTLE
        assert room.total_seconds() == 25.0

    def test_a_retry_in_flight_is_never_out_of_attempts(self) -> None:
        assert DELIVERY_RETRY.maximum_attempts == 0  # unlimited: schedule-to-close bounds it
        assert "AttemptInFlight" not in (DELIVERY_RETRY.non_retryable_error_types or [])


class TestProviderTimeoutSettings:
    @pytest.mark.parametrize("name", ["smtp_timeout", "twilio_timeout"])
    @pytest.mark.parametrize("value", [0, PROVIDER_TIMEOUT_MAX + 1])
    def test_a_timeout_outside_the_activitys_budget_is_refused(self, name: str, value: float) -> None:
        with pytest.raises(ValidationError) as raised:
            Settings(**{name: value})  # type: ignore[arg-type]
        assert [e["loc"] for e in raised.value.errors()] == [(name,)]

    def test_each_channel_has_its_providers_timeout(self) -> None:
        settings = Settings(smtp_timeout=12, twilio_timeout=7)
        assert [settings.provider_timeout(c) for c in ("email", "sms", "voice")] == [12.0, 7.0, 7.0]
