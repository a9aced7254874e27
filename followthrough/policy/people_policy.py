"""The people policy: may a message to a user (a rep, a manager) go, and to which address.

Workflow-safe and pure, like the contact policy. Messages to users are outside the contact's
policy altogether: no consent, quiet hours, caps or yields of the contact apply to them, and they
never count toward the contact's caps or yields (the ledger marks them with ``to_user_id``).

The seam for the people issue: working time, absences and "urgent" will make this decision
defer as well; today a user with an email address is always sent to, now.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from followthrough.models.vocab import Channel
from followthrough.policy.contact_policy import Decision, Verdict

#: A message from before internal sends named users: its address came from the run's data, so it
#: is recorded as skipped, neither sent there nor to the contact.
LEGACY_ADDRESS = "no_recipient: an address from the run's data (internal sends now name a user)"


class UserRecipient(BaseModel):
    """What the decision needs about one user, read from the ``users`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    email: str | None = None


def decide_for_user(user_id: int, user: UserRecipient | None, channel: Channel = Channel.EMAIL) -> Decision:
    """SEND to the user's own address, or SKIP with a ``no_recipient`` reason."""
    if user is None:
        return Decision(verdict=Verdict.SKIP, reason=f"no_recipient: user {user_id} does not exist")
    if channel != Channel.EMAIL:  # the only channel users have today
        return Decision(verdict=Verdict.SKIP, reason=f"no_recipient: user {user_id} has no {channel} channel")
    if not user.email:
        return Decision(verdict=Verdict.SKIP, reason=f"no_recipient: user {user_id} has no email address")
    return Decision(verdict=Verdict.SEND, channel=channel)


def address_of(user: UserRecipient | None, channel: Channel = Channel.EMAIL) -> str | None:
    """The address a SEND decision goes to."""
    return user.email if user is not None and channel == Channel.EMAIL else None
