"""The people policy: may a message to a user (a rep, a manager) go now, on which channel, and to
which address.

Workflow-safe and pure, like the contact policy (``now`` is an argument). Messages to users are
outside the contact's policy altogether: no consent, quiet hours, caps or yields of the contact
apply to them, and they never count toward the contact's caps or yields (the ledger marks them
with ``to_user_id``). What applies instead is the person's own:

- their channels, in their order (``notify_channels``): the first one they have an address for;
- their working time (their calendar's weekly periods and holidays, read in *their* zone) and
  their absences: outside them the message waits for their next working minute, unless it is
  urgent; a message for a moment the person chose themselves (a task's due time) outside their
  working time goes then, outside working time too (absences still hold it);
- ``active``: a deactivated user is sent nothing.

A user without a calendar (none of their own, none from a team) is always at work.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from followthrough.calendar import Calendar, PinnedHolidays, next_working_minute
from followthrough.models.vocab import Channel
from followthrough.policy.contact_policy import Decision, Verdict

#: A message from before internal sends named users: its address came from the run's data, so it
#: is recorded as skipped, neither sent there nor to the contact.
LEGACY_ADDRESS = "no_recipient: an address from the run's data (internal sends now name a user)"
#: Bound on the walk through absences and working periods (absences back to back).
_MAX_HOPS = 100


class AbsencePeriod(BaseModel):
    """An out-of-office period, ``[starts_at, ends_at)`` in UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    starts_at: datetime
    ends_at: datetime


class UserRecipient(BaseModel):
    """What the decision needs about one user, read from the ``users`` table (its calendar and
    absences with it). Plain data: it may travel into a workflow as an activity's result."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    email: str | None = None
    phone: str | None = None
    locale: str = "en"
    time_zone: str = "UTC"
    #: Where the user wants to be notified, in order (``notify_channels``).
    channels: tuple[Channel, ...] = (Channel.EMAIL,)
    active: bool = True
    #: The working calendar (their own, else their team's), already set to the user's zone;
    #: None: no working time is known, the user is always at work.
    calendar: Calendar | None = None
    #: The calendar country's public holidays, pinned when the recipient was read, so a decision
    #: in a workflow never asks the ``holidays`` package (None: the calendar reads the package).
    holidays: dict[str, PinnedHolidays] | None = None
    absences: tuple[AbsencePeriod, ...] = ()

    def working_calendar(self) -> Calendar | None:
        if self.calendar is None or self.holidays is None:
            return self.calendar
        return self.calendar.with_holidays(self.holidays)


def address_of(user: UserRecipient | None, channel: Channel = Channel.EMAIL) -> str | None:
    """The user's address on ``channel`` (None: none there)."""
    if user is None:
        return None
    if channel == Channel.EMAIL:
        return user.email
    if channel == Channel.SMS:
        return user.phone
    return None


def channels_for(user: UserRecipient, exclude: tuple[Channel, ...] | list[Channel] = ()) -> list[Channel]:
    """The user's channels, in their order, that have an address and are not excluded."""
    return [c for c in user.channels if c not in exclude and address_of(user, c)]


def next_available(user: UserRecipient, now: datetime, *, working_time: bool = True) -> datetime:
    """The user's next working minute at or after ``now`` that is outside every absence (UTC);
    ``working_time=False``: only the absences hold it."""
    calendar = user.working_calendar() if working_time else None
    at = now.astimezone(UTC)
    for _ in range(_MAX_HOPS):
        moved = at
        for absence in user.absences:
            if absence.starts_at <= moved < absence.ends_at:
                moved = absence.ends_at.astimezone(UTC)
        if calendar is not None:
            moved = next_working_minute(calendar, moved)
        if moved == at:
            return at
        at = moved
    return at


def chosen_off_hours(user: UserRecipient, chosen_at: datetime | None) -> bool:
    """Whether ``chosen_at`` (a moment the user chose, a task's due time) is outside their
    working time (their calendar, not their absences): then they meant it, and its messages
    are not held for their next working minute."""
    calendar = user.working_calendar()
    if chosen_at is None or calendar is None:
        return False
    at = chosen_at.astimezone(UTC)
    return next_working_minute(calendar, at) > at


def decide_for_user(
    user_id: int, user: UserRecipient | None, channel: Channel | None = None, *,
    now: datetime | None = None, urgent: bool = False, exclude: tuple[Channel, ...] | list[Channel] = (),
    chosen_at: datetime | None = None,
) -> Decision:
    """SEND on the user's first channel with an address (or on ``channel`` alone, when given),
    DEFER to their next working minute outside absences (only with ``now``, never when
    ``urgent``; only to an absence's end when ``chosen_at`` is outside their working time), or
    SKIP with a ``no_recipient`` reason. ``exclude``: channels that failed."""
    if user is None:
        return Decision(verdict=Verdict.SKIP, reason=f"no_recipient: user {user_id} does not exist")
    if not user.active:
        return Decision(verdict=Verdict.SKIP, reason=f"no_recipient: user {user_id} is not active")
    wanted = [channel] if channel is not None else list(user.channels)
    tried = [(c, "no_address") for c in wanted if c not in exclude and not address_of(user, c)]
    usable = [c for c in wanted if c not in exclude and address_of(user, c)]
    if not usable:
        names = ", ".join(c.value for c in wanted) or "none"
        return Decision(verdict=Verdict.SKIP, tried=tried,
                        reason=f"no_recipient: user {user_id} has no address on their channels ({names})")
    chosen = usable[0]
    if now is not None and not urgent:
        at = now.astimezone(UTC)
        until = next_available(user, at, working_time=not chosen_off_hours(user, chosen_at))
        if until > at:
            absent = any(a.starts_at <= at < a.ends_at for a in user.absences)
            return Decision(verdict=Verdict.DEFER, channel=chosen, until=until, tried=tried,
                            reason="absent" if absent else "outside_working_time")
    return Decision(verdict=Verdict.SEND, channel=chosen, tried=tried)
