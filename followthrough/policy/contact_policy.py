"""The contact policy: one pure decision per message — send (on which channel), defer until T,
or skip with a reason. Workflow-safe: no I/O, no clock (``now`` is an argument).

CONTRACT (shared by the store loader, the delivery activity and the API). The types below are
fixed; ``decide`` is implemented in this module.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from followthrough.models.vocab import Category, Channel


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuietHours(_Model):
    """No message of these channels between ``start`` and ``end`` local time (may wrap midnight)."""

    start: time = time(21, 0)
    end: time = time(9, 0)
    channels: list[Channel] = Field(default_factory=lambda: [Channel.SMS, Channel.VOICE])
    on_holidays: bool = True  # a public holiday in the contact's country is quiet all day


class Cap(_Model):
    """At most ``limit`` messages of a category within any rolling ``window`` (ISO-8601)."""

    limit: int = Field(ge=0)
    window: timedelta


class CategoryPolicy(_Model):
    caps: list[Cap] = Field(default_factory=list)
    quiet_hours: bool = True  # False: this category ignores quiet hours (transactional)
    priority: int = 0  # higher first when several messages compete (reported, not reordered)
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
    """Decide for one message. See the module docstring and tests/domain/test_contact_policy.py."""
    raise NotImplementedError
