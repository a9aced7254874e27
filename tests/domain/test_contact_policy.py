"""The contact policy: channel choice, quiet hours (with DST and holidays), caps, holds, pause."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followthrough.models.vocab import Category, Channel
from followthrough.policy.contact_policy import (
    Cap,
    CategoryPolicy,
    ContactPolicyState,
    Decision,
    Hold,
    MessageIntent,
    PolicyConfig,
    QuietHours,
    RecentSend,
    Verdict,
    decide,
)

EMAIL, SMS, VOICE = Channel.EMAIL, Channel.SMS, Channel.VOICE
TRANSACTIONAL, SERVICE, SALES, MARKETING = (
    Category.TRANSACTIONAL, Category.SERVICE, Category.SALES, Category.MARKETING,
)
ALL_ADDRESSES = {EMAIL: "ana@example.com", SMS: "+36301234567", VOICE: "+36301234567"}
#: Noon UTC on a summer Monday: outside quiet hours in UTC and in every zone used here.
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY, WEEK, HOUR = timedelta(days=1), timedelta(days=7), timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *parts: int, fold: int = 0) -> datetime:
    """A local wall time in ``zone`` as a UTC instant."""
    return datetime(*parts, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)  # type: ignore[misc]


def contact(**fields: Any) -> ContactPolicyState:
    return ContactPolicyState(**{"addresses": ALL_ADDRESSES, **fields})


def sends(category: Category, *ats: datetime, channel: Channel = EMAIL) -> list[RecentSend]:
    return [RecentSend(category=category, channel=channel, at=at) for at in ats]


def run(
    channel: Channel = SMS,
    category: Category = MARKETING,
    now: datetime = NOON,
    config: PolicyConfig | None = None,
    fallbacks: tuple[Channel, ...] = (),
    exclude: tuple[Channel, ...] = (),
    **fields: Any,
) -> Decision:
    intent = MessageIntent(channel=channel, category=category, fallbacks=list(fallbacks), exclude=list(exclude))
    return decide(intent, contact(**fields), now, config or PolicyConfig())


def send(channel: Channel, reason: str | None = None, tried: list[tuple[Channel, str]] | None = None) -> Decision:
    return Decision(verdict=Verdict.SEND, channel=channel, reason=reason, tried=tried or [])


def defer(channel: Channel, until: datetime, reason: str) -> Decision:
    return Decision(verdict=Verdict.DEFER, channel=channel, until=until, reason=reason)


def skip(reason: str, tried: list[tuple[Channel, str]]) -> Decision:
    return Decision(verdict=Verdict.SKIP, reason=reason, tried=tried)


class TestChannelChoice:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({}, send(SMS)),
            ({"fallbacks": (EMAIL,), "revoked": [(SMS, MARKETING)]},
             send(EMAIL, "fallback:no_consent", [(SMS, "no_consent")])),
            ({"revoked": [(SMS, SALES)]}, send(SMS)),
            ({"fallbacks": (EMAIL, VOICE), "revoked": [(SMS, MARKETING)], "preferred_channel": VOICE},
             send(VOICE, "fallback:no_consent", [(SMS, "no_consent")])),
            ({"fallbacks": (EMAIL, VOICE), "preferred_channel": VOICE}, send(SMS)),
            ({"fallbacks": (VOICE,), "revoked": [(SMS, MARKETING)], "preferred_channel": EMAIL},
             send(VOICE, "fallback:no_consent", [(SMS, "no_consent")])),
            ({"suppressed_channels": [SMS]}, skip("suppressed", [(SMS, "suppressed")])),
            ({"addresses": {EMAIL: "ana@example.com"}}, skip("no_address", [(SMS, "no_address")])),
            ({"addresses": {EMAIL: "ana@example.com", SMS: ""}}, skip("no_address", [(SMS, "no_address")])),
            ({"fallbacks": (EMAIL,), "exclude": (SMS, EMAIL)}, skip("no_channel", [])),
            ({"fallbacks": (EMAIL,), "exclude": (SMS,)}, send(EMAIL, "fallback:excluded")),
            ({"fallbacks": (SMS, EMAIL, EMAIL), "revoked": [(SMS, MARKETING)], "suppressed_channels": [EMAIL]},
             skip("no_consent", [(SMS, "no_consent"), (EMAIL, "suppressed")])),
            ({"fallbacks": (EMAIL,), "suppressed_channels": [SMS], "addresses": {SMS: "+36301234567"}},
             skip("suppressed", [(SMS, "suppressed"), (EMAIL, "no_address")])),
        ],
        ids=[
            "primary-fine", "sms-revoked-falls-back-to-email", "revoked-for-other-category-only",
            "preferred-moves-first-among-fallbacks", "preference-never-beats-a-fine-primary",
            "preferred-not-a-fallback-is-ignored", "suppressed", "no-address", "empty-address",
            "all-excluded", "primary-excluded", "all-refused-deduped", "reason-is-the-primary's",
        ],
    )
    def test_choice(self, kwargs: dict[str, Any], expected: Decision) -> None:
        assert run(**kwargs) == expected

    def test_a_deferral_never_falls_back(self) -> None:
        night = local("Europe/Budapest", 2026, 6, 1, 23, 0)
        assert run(now=night, fallbacks=(EMAIL,), time_zone="Europe/Budapest") == defer(
            SMS, local("Europe/Budapest", 2026, 6, 2, 9, 0), "quiet_hours"
        )


class TestQuietHours:
    @pytest.mark.parametrize(
        ("zone", "now", "until"),
        [
            ("Europe/Moscow", utc(2026, 6, 1, 19, 0), utc(2026, 6, 2, 6, 0)),  # 22:00 MSK
            ("Europe/Moscow", utc(2026, 6, 1, 18, 0), utc(2026, 6, 2, 6, 0)),  # 21:00 sharp: quiet
            ("Europe/Moscow", utc(2026, 6, 1, 5, 59, 59), utc(2026, 6, 1, 6, 0)),  # 08:59:59
            ("Europe/Moscow", utc(2026, 6, 1, 6, 0), None),  # 09:00 sharp: allowed
            ("Europe/Moscow", utc(2026, 6, 1, 17, 59, 59), None),  # 20:59:59
            ("Europe/Budapest", utc(2026, 7, 1, 20, 0), utc(2026, 7, 2, 7, 0)),  # 22:00 CEST
            ("Europe/Budapest", utc(2026, 1, 15, 23, 30), utc(2026, 1, 16, 8, 0)),  # 00:30 CET
            ("America/New_York", utc(2026, 1, 15, 2, 0), utc(2026, 1, 15, 14, 0)),  # 21:00 EST
            ("America/New_York", utc(2026, 7, 1, 12, 0), utc(2026, 7, 1, 13, 0)),  # 08:00 EDT
            ("America/New_York", utc(2026, 7, 1, 13, 0), None),  # 09:00 EDT
            ("Not/AZone", utc(2026, 7, 1, 22, 0), utc(2026, 7, 2, 9, 0)),  # unknown zone: UTC
        ],
        ids=[
            "moscow-evening", "moscow-start-inclusive", "moscow-just-before-end", "moscow-end-exclusive",
            "moscow-just-before-start", "budapest-summer", "budapest-winter-after-midnight",
            "new-york-winter", "new-york-summer-morning", "new-york-end", "invalid-zone-is-utc",
        ],
    )
    def test_sms_marketing(self, zone: str, now: datetime, until: datetime | None) -> None:
        expected = send(SMS) if until is None else defer(SMS, until, "quiet_hours")
        assert run(now=now, time_zone=zone) == expected

    @pytest.mark.parametrize(
        ("channel", "category", "verdict"),
        [
            (SMS, TRANSACTIONAL, Verdict.SEND),
            (VOICE, TRANSACTIONAL, Verdict.SEND),
            (EMAIL, MARKETING, Verdict.SEND),
            (SMS, SERVICE, Verdict.DEFER),
            (VOICE, SALES, Verdict.DEFER),
        ],
        ids=["transactional-sms", "transactional-voice", "email", "service-sms", "sales-voice"],
    )
    def test_which_messages_are_quiet(self, channel: Channel, category: Category, verdict: Verdict) -> None:
        assert run(channel, category, now=utc(2026, 6, 1, 23, 0)).verdict == verdict

    @pytest.mark.parametrize(
        ("now", "until"),
        [
            (utc(2026, 6, 1, 12, 30), utc(2026, 6, 1, 14, 0)),
            (utc(2026, 6, 1, 14, 0), None),
            (utc(2026, 6, 1, 11, 59), None),
        ],
        ids=["inside", "at-end", "before-start"],
    )
    def test_a_window_not_wrapping_midnight(self, now: datetime, until: datetime | None) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(start=time(12, 0), end=time(14, 0)))
        expected = send(SMS) if until is None else defer(SMS, until, "quiet_hours")
        assert run(now=now, config=config) == expected

    def test_channels_are_configurable(self) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(channels=[EMAIL]))
        night = utc(2026, 6, 1, 23, 0)
        assert (run(SMS, now=night, config=config), run(EMAIL, now=night, config=config)) == (
            send(SMS), defer(EMAIL, utc(2026, 6, 2, 9, 0), "quiet_hours"),
        )


class TestDaylightSaving:
    """Budapest: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET."""

    @pytest.mark.parametrize(
        ("end", "now", "until"),
        [
            # 02:30 does not exist that night: the first valid instant after it is 03:00 CEST.
            (time(2, 30), utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 1, 0)),
            (time(2, 30), utc(2026, 3, 29, 0, 59, 59), utc(2026, 3, 29, 1, 0)),
            (time(9, 0), utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 7, 0)),  # 09:00 CEST
            # 02:30 happens twice: the first occurrence (CEST), unless already past.
            (time(2, 30), utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 0, 30)),
            (time(2, 30), utc(2026, 10, 25, 1, 10), utc(2026, 10, 25, 1, 30)),  # 02:10 CET
            (time(9, 0), utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 8, 0)),  # 09:00 CET
        ],
        ids=[
            "spring-nonexistent-end", "spring-just-before-jump", "spring-0900",
            "fall-ambiguous-end-first", "fall-ambiguous-end-second", "fall-0900",
        ],
    )
    def test_budapest(self, end: time, now: datetime, until: datetime) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(end=end))
        assert run(now=now, config=config, time_zone="Europe/Budapest") == defer(SMS, until, "quiet_hours")

    def test_after_the_spring_jump_it_sends(self) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(end=time(2, 30)))
        assert run(now=utc(2026, 3, 29, 1, 0), config=config, time_zone="Europe/Budapest") == send(SMS)


class TestHolidays:
    RU_NEW_YEAR = [date(2027, 1, day) for day in range(1, 9)]

    @pytest.mark.parametrize(
        ("now", "until"),
        [
            (local("Europe/Moscow", 2027, 1, 1, 12, 0), local("Europe/Moscow", 2027, 1, 9, 9, 0)),
            (local("Europe/Moscow", 2026, 12, 31, 22, 0), local("Europe/Moscow", 2027, 1, 9, 9, 0)),
            (local("Europe/Moscow", 2027, 1, 8, 23, 59), local("Europe/Moscow", 2027, 1, 9, 9, 0)),
        ],
        ids=["holiday-noon", "eve-night-runs-into-holidays", "last-holiday-night"],
    )
    def test_deferred_to_next_working_day_0900(self, now: datetime, until: datetime) -> None:
        decision = run(now=now, time_zone="Europe/Moscow", holidays=self.RU_NEW_YEAR)
        assert decision == defer(SMS, until, "quiet_hours")

    @pytest.mark.parametrize(
        ("channel", "category", "on_holidays", "verdict"),
        [
            (SMS, MARKETING, False, Verdict.SEND),
            (EMAIL, MARKETING, True, Verdict.SEND),
            (SMS, TRANSACTIONAL, True, Verdict.SEND),
            (SMS, MARKETING, True, Verdict.DEFER),
        ],
        ids=["holidays-off", "email", "transactional", "sms-marketing"],
    )
    def test_who_is_quiet_on_holidays(
        self, channel: Channel, category: Category, on_holidays: bool, verdict: Verdict
    ) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(on_holidays=on_holidays))
        now = local("Europe/Moscow", 2027, 1, 1, 12, 0)
        decision = run(channel, category, now=now, config=config, time_zone="Europe/Moscow", holidays=self.RU_NEW_YEAR)
        assert decision.verdict == verdict


class TestCaps:
    @pytest.mark.parametrize(
        ("category", "recent", "expected"),
        [
            (MARKETING, sends(MARKETING, NOON - DAY), send(EMAIL)),
            (MARKETING, sends(MARKETING, NOON - DAY + timedelta(seconds=1)),
             defer(EMAIL, NOON + timedelta(seconds=1), "cap:marketing:P1D")),
            (MARKETING, sends(MARKETING, NOON - 2 * HOUR, channel=SMS),
             defer(EMAIL, NOON + 22 * HOUR, "cap:marketing:P1D")),
            # Sales sends do not count against the marketing cap (sent two days ago: past the
            # default one-day yield of marketing to higher-priority categories).
            (MARKETING, sends(SALES, NOON - 2 * DAY, NOON - 2 * DAY - HOUR), send(EMAIL)),
            (MARKETING, sends(MARKETING, NOON - 6 * DAY, NOON - 4 * DAY, NOON - 2 * DAY),
             defer(EMAIL, NOON + DAY, "cap:marketing:P7D")),
            (MARKETING, sends(MARKETING, NOON - WEEK, NOON - 4 * DAY, NOON - 2 * DAY), send(EMAIL)),
            (MARKETING, sends(MARKETING, NOON - 6 * DAY, NOON - 4 * DAY, NOON - 2 * HOUR),
             defer(EMAIL, NOON + DAY, "cap:marketing:P7D")),
            (SALES, sends(SALES, NOON - 3 * HOUR), send(EMAIL)),
            (SALES, sends(SALES, NOON - 3 * HOUR, NOON - 5 * HOUR, channel=SMS),
             defer(EMAIL, NOON + 19 * HOUR, "cap:sales:P1D")),
            (SALES, sends(SALES, NOON - 5 * HOUR, NOON - 3 * HOUR, NOON + HOUR),
             defer(EMAIL, NOON + 21 * HOUR, "cap:sales:P1D")),
            (SERVICE, sends(SERVICE, *(NOON - timedelta(minutes=m) for m in range(10))), send(EMAIL)),
            (TRANSACTIONAL, sends(TRANSACTIONAL, *(NOON - timedelta(minutes=m) for m in range(10))), send(EMAIL)),
        ],
        ids=[
            "exactly-a-window-ago-not-counted", "a-second-inside-counts", "counted-across-channels",
            "other-categories-not-counted", "weekly", "weekly-edge", "both-violated-weekly-binds",
            "sales-one-of-two", "sales-two-of-two", "sales-pending-send-counts",
            "service-uncapped", "transactional-uncapped",
        ],
    )
    def test_caps(self, category: Category, recent: list[RecentSend], expected: Decision) -> None:
        assert run(EMAIL, category, recent=recent) == expected

    def test_limit_zero_never_sends(self) -> None:
        config = PolicyConfig(categories={MARKETING: CategoryPolicy(caps=[Cap(limit=0, window=DAY)])})
        assert run(EMAIL, config=config) == Decision(
            verdict=Verdict.SKIP, channel=EMAIL, reason="cap:marketing:blocked"
        )

    def test_the_reason_names_the_window_in_iso_8601(self) -> None:
        config = PolicyConfig(categories={SALES: CategoryPolicy(caps=[Cap(limit=1, window=12 * HOUR)])})
        decision = run(EMAIL, SALES, config=config, recent=sends(SALES, NOON - HOUR))
        assert decision == defer(EMAIL, NOON + 11 * HOUR, "cap:sales:PT12H")


class TestHoldsAndPause:
    @pytest.mark.parametrize(
        ("category", "fields", "expected"),
        [
            (MARKETING, {"holds": [Hold(categories=[MARKETING, SALES], until=NOON + 2 * HOUR)]},
             defer(EMAIL, NOON + 2 * HOUR, "hold")),
            (MARKETING, {"holds": [Hold(categories=[MARKETING], until=NOON + HOUR, reason="sales-cycle")]},
             defer(EMAIL, NOON + HOUR, "hold:sales-cycle")),
            (MARKETING, {"holds": [Hold(categories=[MARKETING])]}, defer(EMAIL, NOON + HOUR, "hold")),
            (MARKETING, {"holds": [Hold(categories=[SALES], until=NOON + HOUR)]}, send(EMAIL)),
            (MARKETING, {"holds": [Hold(categories=[MARKETING], until=NOON)]}, send(EMAIL)),
            (TRANSACTIONAL, {"holds": [Hold(categories=[TRANSACTIONAL], until=NOON + HOUR)]},
             defer(EMAIL, NOON + HOUR, "hold")),
            (MARKETING, {"holds": [Hold(categories=[MARKETING], until=NOON + HOUR),
                                   Hold(categories=[MARKETING], until=NOON + 3 * HOUR)]},
             defer(EMAIL, NOON + 3 * HOUR, "hold")),
            (SALES, {"paused_until": NOON + 3 * DAY}, defer(EMAIL, NOON + 3 * DAY, "paused")),
            (TRANSACTIONAL, {"paused_until": NOON + 3 * DAY}, send(EMAIL)),
            (SALES, {"paused_until": NOON}, send(EMAIL)),
        ],
        ids=[
            "hold-until", "hold-with-reason", "open-hold-rechecks-in-an-hour", "hold-other-category",
            "hold-expired", "holds-apply-to-any-listed-category", "latest-hold-wins", "paused",
            "transactional-ignores-pause", "pause-expired",
        ],
    )
    def test_holds_and_pause(self, category: Category, fields: dict[str, Any], expected: Decision) -> None:
        assert run(EMAIL, category, **fields) == expected


class TestCombinations:
    """The answer is the earliest instant nothing blocks; the reason is what blocks at ``now``."""

    ZONE = "Europe/Budapest"

    @pytest.mark.parametrize(
        ("now", "fields", "until", "reason"),
        [
            # The daily cap frees at 23:00 local, inside quiet hours: the morning is the answer.
            (local(ZONE, 2026, 7, 1, 12, 0), {"recent": sends(MARKETING, local(ZONE, 2026, 6, 30, 23, 0))},
             local(ZONE, 2026, 7, 2, 9, 0), "cap:marketing:P1D"),
            (local(ZONE, 2026, 7, 1, 12, 0), {"paused_until": local(ZONE, 2026, 7, 1, 22, 0)},
             local(ZONE, 2026, 7, 2, 9, 0), "paused"),
            (local(ZONE, 2026, 7, 1, 22, 0), {"holds": [Hold(categories=[MARKETING], until=local(ZONE, 2026, 7, 1, 23, 0))]},
             local(ZONE, 2026, 7, 2, 9, 0), "hold"),
            # Quiet hours end at 09:00, but the cap frees only at 10:00.
            (local(ZONE, 2026, 7, 1, 22, 0), {"recent": sends(MARKETING, local(ZONE, 2026, 7, 1, 10, 0))},
             local(ZONE, 2026, 7, 2, 10, 0), "quiet_hours"),
            (local(ZONE, 2026, 12, 24, 12, 0), {"holidays": [date(2026, 12, 25), date(2026, 12, 26)],
                                                "recent": sends(MARKETING, local(ZONE, 2026, 12, 24, 11, 0))},
             local(ZONE, 2026, 12, 27, 9, 0), "cap:marketing:P1D"),
        ],
        ids=["cap-frees-at-night", "pause-ends-at-night", "hold-then-quiet", "quiet-then-cap", "cap-then-holidays"],
    )
    def test_earliest_instant_nothing_blocks(
        self, now: datetime, fields: dict[str, Any], until: datetime, reason: str
    ) -> None:
        assert run(now=now, time_zone=self.ZONE, **fields) == defer(SMS, until, reason)


ZONES = ["UTC", "Europe/Moscow", "Europe/Budapest", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
WALL_TIMES = [time(0, 0), time(2, 0), time(2, 30), time(9, 0), time(21, 0), time(23, 30)]


def _quiet_at(instant: datetime, zone: str, quiet: QuietHours, holidays: list[date]) -> bool:
    """An independent reading of the rule, for the property test."""
    wall = instant.astimezone(ZoneInfo(zone))
    if quiet.on_holidays and wall.date() in holidays:
        return True
    start, end, clock = quiet.start, quiet.end, wall.time()
    return start <= clock < end if start < end else start > end and (clock >= start or clock < end)


class TestProperties:
    @settings(max_examples=400, deadline=None)
    @given(
        # hypothesis takes naive bounds and attaches the zone itself
        now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31),  # noqa: DTZ001
                         timezones=st.just(UTC)),
        zone=st.sampled_from(ZONES),
        start=st.sampled_from(WALL_TIMES),
        end=st.sampled_from(WALL_TIMES),
        channel=st.sampled_from(list(Channel)),
        category=st.sampled_from(list(Category)),
        ago=st.lists(st.tuples(st.sampled_from(list(Category)), st.integers(-3600, 8 * 86400)), max_size=8),
        holiday_offsets=st.lists(st.integers(-1, 5), max_size=4),
        pause_hours=st.none() | st.integers(-5, 72),
        hold_hours=st.none() | st.integers(-5, 72),
    )
    def test_send_respects_the_rules_and_defer_converges(
        self, now: datetime, zone: str, start: time, end: time, channel: Channel, category: Category,
        ago: list[tuple[Category, int]], holiday_offsets: list[int], pause_hours: int | None,
        hold_hours: int | None,
    ) -> None:
        config = PolicyConfig(quiet_hours=QuietHours(start=start, end=end))
        local_today = now.astimezone(ZoneInfo(zone)).date()
        state = contact(
            time_zone=zone,
            recent=[RecentSend(category=c, channel=EMAIL, at=now - timedelta(seconds=s)) for c, s in ago],
            holidays=[local_today + timedelta(days=d) for d in holiday_offsets],
            paused_until=None if pause_hours is None else now + timedelta(hours=pause_hours),
            holds=[] if hold_hours is None else [Hold(categories=[category], until=now + timedelta(hours=hold_hours))],
        )
        intent = MessageIntent(channel=channel, category=category)
        decision = decide(intent, state, now, config)
        policy = config.categories[category]

        if decision.verdict == Verdict.SEND:
            quiet_applies = policy.quiet_hours and channel in config.quiet_hours.channels
            assert not (quiet_applies and _quiet_at(now, zone, config.quiet_hours, state.holidays))
            for cap in policy.caps:
                counted = [s for s in state.recent if s.category == category and s.at > now - cap.window]
                assert len(counted) < cap.limit
        if decision.verdict == Verdict.DEFER:
            assert decision.until is not None and decision.until > now
            again = decide(intent, state, decision.until, config)
            assert again.verdict == Verdict.SEND


class TestYieldToHigherPriority:
    """"If we called them today, the newsletter waits" (default: marketing yields one day)."""

    @pytest.mark.parametrize(
        ("category", "recent", "expected"),
        [
            (MARKETING, sends(SERVICE, NOON - 3 * HOUR), defer(EMAIL, NOON + 21 * HOUR, "yield:marketing")),
            (MARKETING, sends(SALES, NOON - DAY + timedelta(seconds=1)),
             defer(EMAIL, NOON + timedelta(seconds=1), "yield:marketing")),
            (MARKETING, sends(SALES, NOON - DAY), send(EMAIL)),
            (SALES, sends(SERVICE, NOON - HOUR), send(EMAIL)),
            (SERVICE, sends(TRANSACTIONAL, NOON - HOUR), send(EMAIL)),
        ],
        ids=["service-3h-ago", "sales-a-second-inside", "exactly-a-day-ago", "sales-does-not-yield", "service-does-not-yield"],
    )
    def test_yield(self, category, recent, expected) -> None:  # type: ignore[no-untyped-def]
        assert run(EMAIL, category, recent=recent) == expected

