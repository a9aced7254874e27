"""The contact policy: one pure decision per message — send (on which channel), defer until T,
or skip with a reason. Workflow-safe: no I/O, no clock (``now`` is an argument).

CONTRACT (shared by the store loader, the delivery activity and the API). The types below are
fixed; ``decide`` is implemented in this module.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from followthrough.calendar import TimeOfDay
from followthrough.models.vocab import Category, Channel


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHours(_Model):
    """No message of these channels between ``start`` and ``end`` local time (may wrap midnight)."""

    start: TimeOfDay = time(21, 0)
    end: TimeOfDay = time(9, 0)
    channels: list[Channel] = Field(default_factory=lambda: [Channel.SMS, Channel.VOICE])
    on_holidays: bool = True  # a public holiday in the contact's country is quiet all day


class Cap(_Model):
    """At most ``limit`` messages of a category within any rolling ``window`` (ISO-8601)."""

    limit: int = Field(ge=0)
    window: timedelta


class CategoryPolicy(_Model):
    caps: list[Cap] = Field(default_factory=list)
    quiet_hours: bool = True  # False: this category ignores quiet hours (transactional)
    priority: int = 0  # ranks categories for ``yield_after_higher``
    #: "If we called them today, the newsletter waits": defer this category for this long after
    #: any message of a higher-priority category to the same contact (one voice at a time).
    yield_after_higher: timedelta | None = None
    at_least_once: bool = False  # delivery policy for uncertain attempts


class PolicyConfig(_Model):
    """Global contact policy; ``GET/PUT /v1/policy``. Defaults from the issue."""

    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    categories: dict[Category, CategoryPolicy] = Field(
        default_factory=lambda: {
            Category.TRANSACTIONAL: CategoryPolicy(quiet_hours=False, priority=40, at_least_once=True),
            Category.SERVICE: CategoryPolicy(priority=30, at_least_once=True),
            Category.SALES: CategoryPolicy(caps=[Cap(limit=2, window=timedelta(days=1))], priority=20),
            Category.MARKETING: CategoryPolicy(
                caps=[Cap(limit=1, window=timedelta(days=1)), Cap(limit=3, window=timedelta(days=7))],
                priority=10,
                yield_after_higher=timedelta(days=1),
            ),
        }
    )


class Hold(_Model):
    """"One department at a time": defer these categories until ``until`` (or until lifted)."""

    id: int | None = None
    categories: list[Category]
    until: datetime | None = None  # None: until lifted
    reason: str = ""


class RecentSend(_Model):
    """A message already sent (or pending) to this contact, counted against caps."""

    category: Category
    channel: Channel
    at: datetime


class ContactPolicyState(_Model):
    """Everything the decision needs about one contact, loaded in the same transaction that
    claims the ledger row (so 20 racing workflows cannot exceed a cap by one)."""

    time_zone: str = "UTC"
    addresses: dict[Channel, str] = Field(default_factory=dict)  # missing: no address
    # Explicit consent answers; a (channel, category) pair not listed is granted.
    revoked: list[tuple[Channel, Category]] = Field(default_factory=list)
    suppressed_channels: list[Channel] = Field(default_factory=list)  # address on suppression list
    preferred_channel: Channel | None = None
    paused_until: datetime | None = None  # pauses every category but transactional
    holds: list[Hold] = Field(default_factory=list)
    recent: list[RecentSend] = Field(default_factory=list)
    holidays: list[date] = Field(default_factory=list)  # public holidays near ``now``, local dates


class MessageIntent(_Model):
    channel: Channel
    category: Category
    fallbacks: list[Channel] = Field(default_factory=list)
    exclude: list[Channel] = Field(default_factory=list)  # channels that already failed permanently


class Verdict(StrEnum):
    SEND = "send"
    DEFER = "defer"
    SKIP = "skip"


class Decision(_Model):
    verdict: Verdict
    channel: Channel | None = None  # the channel to send on (SEND)
    until: datetime | None = None  # when to ask again (DEFER), UTC
    reason: str | None = None  # machine reason: quiet_hours, cap:marketing:P1D, hold, paused,
    #                            no_consent, suppressed, no_address, ... (SKIP/DEFER and fallbacks)
    tried: list[tuple[Channel, str]] = Field(default_factory=list)  # channels passed over, why


def decide(
    intent: MessageIntent, contact: ContactPolicyState, now: datetime, config: PolicyConfig
) -> Decision:
    """Decide for one message: SEND on a channel, DEFER until an instant (UTC), or SKIP.

    The channel is chosen first (consent, suppression, address; preference reorders the
    fallbacks only). "Not now" rules (pause, hold, quiet hours, caps) then apply to that channel
    alone: a deferral never falls back to another channel, since the primary is still valid later.
    A DEFER carries the earliest instant at which none of those rules blocks, the reason of the
    first rule (in that order; for caps, the one freeing last) that blocks at ``now``, and the
    channel it applies to; the workflow asks again then. A cap of limit 0 is a SKIP.
    """
    now = _utc(now)
    tried: list[tuple[Channel, str]] = []
    chosen = None
    for channel in _candidates(intent, contact.preferred_channel):
        reason = _refusal(channel, intent.category, contact)
        if reason is None:
            chosen = channel
            break
        tried.append((channel, reason))
    if chosen is None:
        return Decision(verdict=Verdict.SKIP, reason=tried[0][1] if tried else "no_channel", tried=tried)

    policy = config.categories.get(intent.category, CategoryPolicy())
    if any(cap.limit == 0 for cap in policy.caps):
        return Decision(
            verdict=Verdict.SKIP, reason=f"cap:{intent.category}:blocked", channel=chosen, tried=tried
        )

    at, reason = now, None
    # Each blocker's release is > t, so t strictly grows; a cap freeing at night is pushed to the
    # morning by the next pass. The bound only guards against pathological configs: the answer is
    # a re-check time anyway, so an unconverged t is still correct to ask again at.
    for _ in range(_MAX_PASSES):
        blocks = _blockers(at, now, chosen, intent.category, policy, contact, config)
        if not blocks:
            break
        reason = reason or blocks[0][1]
        at = max(release for release, _ in blocks)
    if reason is not None:
        return Decision(verdict=Verdict.DEFER, channel=chosen, until=at, reason=reason, tried=tried)
    fallback = None
    if chosen != intent.channel:
        fallback = f"fallback:{tried[0][1] if tried else 'excluded'}"
    return Decision(verdict=Verdict.SEND, channel=chosen, reason=fallback, tried=tried)


_MAX_PASSES = 16
#: A hold with no end is re-checked after this long (it may have been lifted meanwhile).
_OPEN_HOLD_RECHECK = timedelta(hours=1)


def _utc(moment: datetime) -> datetime:
    # Rows loaded from SQLite come back naive; they are stored in UTC (ARCHITECTURE.md, Time).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _candidates(intent: MessageIntent, preferred: Channel | None) -> list[Channel]:
    """The primary channel, then the fallbacks with the contact's preference first."""
    fallbacks = list(intent.fallbacks)
    if preferred is not None and preferred in fallbacks:
        fallbacks.remove(preferred)
        fallbacks.insert(0, preferred)
    ordered: list[Channel] = []
    for channel in [intent.channel, *fallbacks]:
        if channel not in ordered and channel not in intent.exclude:
            ordered.append(channel)
    return ordered


def _refusal(channel: Channel, category: Category, contact: ContactPolicyState) -> str | None:
    if not contact.addresses.get(channel):
        return "no_address"
    if (channel, category) in contact.revoked:
        return "no_consent"
    if channel in contact.suppressed_channels:
        return "suppressed"
    return None


def _blockers(
    at: datetime,
    now: datetime,
    channel: Channel,
    category: Category,
    policy: CategoryPolicy,
    contact: ContactPolicyState,
    config: PolicyConfig,
) -> list[tuple[datetime, str]]:
    """Everything that forbids sending at ``at``, each with the instant (> ``at``) it releases."""
    quiet = config.quiet_hours
    blocks: list[tuple[datetime, str]] = []
    if category != Category.TRANSACTIONAL and contact.paused_until is not None:
        if _utc(contact.paused_until) > at:
            blocks.append((_utc(contact.paused_until), "paused"))
    for hold in contact.holds:
        # An open hold is assumed lifted after the re-check delay, so the search can go on.
        lifted = _utc(hold.until) if hold.until is not None else now + _OPEN_HOLD_RECHECK
        if category in hold.categories and lifted > at:
            blocks.append((lifted, f"hold:{hold.reason}" if hold.reason else "hold"))
    if policy.quiet_hours and channel in quiet.channels:
        morning = _quiet_release(at, _zone(contact.time_zone), quiet, set(contact.holidays))
        if morning is not None:
            blocks.append((morning, "quiet_hours"))
    if policy.yield_after_higher:
        window = policy.yield_after_higher
        louder = [_utc(s.at) for s in contact.recent
                  if _priority(config, s.category) > policy.priority and _utc(s.at) > at - window]
        if louder:
            blocks.append((max(louder) + window, f"yield:{category}"))
    caps = [(frees, cap) for cap in policy.caps
            if (frees := _cap_release(at, cap, category, contact.recent)) is not None]
    if caps:  # the cap that frees last is the one that binds, hence the one to name
        frees, cap = max(caps, key=lambda pair: pair[0])
        blocks.append((frees, f"cap:{category}:{cap.model_dump(mode='json')['window']}"))
    return blocks


def _priority(config: PolicyConfig, category: Category) -> int:
    policy = config.categories.get(category)
    return policy.priority if policy is not None else 0


def _cap_release(
    at: datetime, cap: Cap, category: Category, recent: list[RecentSend]
) -> datetime | None:
    """When the cap lets one more message through, or None if it does now.

    A send counts while ``sent_at > at - window`` (exactly one window ago is out). Pending sends
    dated after ``at`` count too: they are claimed and will go.
    """
    sends = sorted(_utc(s.at) for s in recent if s.category == category)
    in_window = [sent_at for sent_at in sends if sent_at > at - cap.window]
    excess = len(in_window) - cap.limit
    if excess < 0:
        return None
    # Once the (excess+1) oldest have left the window, the count is limit - 1: one may go.
    return in_window[excess] + cap.window


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A bad zone must not block delivery forever; UTC is the stored default.
        return ZoneInfo("UTC")


def _in_window(wall: time, quiet: QuietHours) -> bool:
    if quiet.start < quiet.end:
        return quiet.start <= wall < quiet.end
    if quiet.start > quiet.end:  # wraps midnight, e.g. 21:00 -> 09:00
        return wall >= quiet.start or wall < quiet.end
    return False  # start == end: an empty window, not a 24-hour one


def _quiet_release(
    at: datetime, zone: ZoneInfo, quiet: QuietHours, holidays: set[date]
) -> datetime | None:
    """The earliest instant >= ``at`` outside quiet hours and holidays, or None if ``at`` is."""
    candidate = at
    # Each pass leaves a holiday or a window; a run of holidays costs one pass per day.
    for _ in range(2 * len(holidays) + 4):
        local = candidate.astimezone(zone)
        if quiet.on_holidays and local.date() in holidays:
            candidate = _wall_instant(local.date() + timedelta(days=1), time(0), zone, candidate)
        elif _in_window(local.time(), quiet):
            day = local.date() if local.time() < quiet.end else local.date() + timedelta(days=1)
            candidate = _wall_instant(day, quiet.end, zone, candidate)
        else:
            break
    return None if candidate == at else candidate


def _wall_instant(day: date, wall: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first UTC instant after ``after`` showing ``wall`` on ``day`` in ``zone``.

    Ambiguous wall times (clocks going back) give their first occurrence unless it is already
    past; nonexistent ones (clocks going forward) give the instant the clocks jumped, i.e. the
    first valid instant after the missing wall time.
    """
    for fold in (0, 1):
        local = datetime.combine(day, wall, tzinfo=zone).replace(fold=fold)
        instant = local.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            instant = _transition(local, zone)
        if instant > after:
            return instant
    return _wall_instant(day + timedelta(days=1), wall, zone, after)


def _transition(missing: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of the forward jump that skipped the wall time ``missing``."""
    # fold=1 reads the missing time with the offset after the jump, fold=0 with the one before,
    # so the jump lies between the two; bisect to the microsecond on the offset change.
    before = missing.replace(fold=1).astimezone(UTC)
    after = missing.replace(fold=0).astimezone(UTC)
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > timedelta(microseconds=1):
        middle = before + (after - before) // 2
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return after
