"""The people policy: a message to a user goes to the user's own address, or is skipped."""

from __future__ import annotations

import pytest

from followthrough.models.vocab import Channel
from followthrough.policy.contact_policy import Decision, Verdict
from followthrough.policy.people_policy import UserRecipient, address_of, decide_for_user

REP = UserRecipient(id=7, email="rep@example.test")

CASES: list[tuple[str, UserRecipient | None, Channel, Decision, str | None]] = [
    ("a user with an email", REP, Channel.EMAIL, Decision(verdict=Verdict.SEND, channel=Channel.EMAIL),
     "rep@example.test"),
    ("no such user", None, Channel.EMAIL,
     Decision(verdict=Verdict.SKIP, reason="no_recipient: user 7 does not exist"), None),
    ("a user without an email", UserRecipient(id=7), Channel.EMAIL,
     Decision(verdict=Verdict.SKIP, reason="no_recipient: user 7 has no email address"), None),
    ("a channel users do not have", REP, Channel.SMS,
     Decision(verdict=Verdict.SKIP, reason="no_recipient: user 7 has no sms channel"), None),
]


class TestDecideForUser:
    @pytest.mark.parametrize(("user", "channel", "decision", "address"), [c[1:] for c in CASES],
                             ids=[c[0] for c in CASES])
    def test_decision_and_address(self, user: UserRecipient | None, channel: Channel, decision: Decision,
                                  address: str | None) -> None:
        assert decide_for_user(7, user, channel) == decision
        assert address_of(user, channel) == address
