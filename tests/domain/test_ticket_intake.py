"""Which inbound messages open or continue a ticket and which stay replies (tickets/intake.py)."""

from __future__ import annotations

from typing import Any

import pytest

from followthrough.tickets.intake import Intake, addressed_to, decide_email, decide_sms, same_number

SUPPORT = "support@shop.example.test"
EMAIL: dict[str, Any] = {"recipients": [SUPPORT], "support_address": SUPPORT, "contact_known": True,
                         "acts": True, "thread": None}
SMS: dict[str, Any] = {"to": "+36 1 555 0100", "support_number": "+3615550100", "contact_known": True,
                       "keyword": False, "open_ticket": None}


class TestEmail:
    @pytest.mark.parametrize(("change", "expected"), [
        ({}, Intake("open", None, "to the support address")),
        ({"recipients": ["Support <SUPPORT@shop.example.test>"]}, Intake("open", None, "to the support address")),
        ({"recipients": ["sales@shop.example.test"]},
         Intake("reply", None, "not to the support address and not in a ticket's thread")),
        ({"support_address": ""}, Intake("reply", None, "not to the support address and not in a ticket's thread")),
        # A reply in a ticket's thread continues it, whatever the address; a resolved one too.
        ({"thread": (7, "waiting_on_customer"), "recipients": ["replies@shop.example.test"]},
         Intake("continue", 7, "a reply in the ticket's thread")),
        ({"thread": (7, "resolved")}, Intake("continue", 7, "a reply in the ticket's thread")),
        # A closed ticket is not continued.
        ({"thread": (7, "closed")}, Intake("open", None, "to the support address (its thread's ticket is closed)")),
        ({"thread": (7, "closed"), "recipients": ["replies@shop.example.test"]},
         Intake("reply", None, "in a closed ticket's thread, not to the support address")),
        # Never a ticket: an unknown sender, an automatic or unverified mail.
        ({"contact_known": False}, Intake("reply", None, "the sender is no contact")),
        ({"acts": False, "thread": (7, "open")}, Intake("reply", None, "an automatic or unverified mail")),
        # A re-post decides as the first post did.
        ({"already": (9, "new"), "opened_by_it": True}, Intake("open", 9, "this message opened the ticket")),
        ({"already": (7, "open"), "recipients": []}, Intake("continue", 7, "this message is on the ticket")),
    ])
    def test_decisions(self, change: dict[str, Any], expected: Intake) -> None:
        assert decide_email(**{**EMAIL, **change}) == expected

    def test_addresses_compare_bare_and_case_insensitive(self) -> None:
        assert addressed_to(["<Support@Shop.Example.Test>"], SUPPORT)
        assert not addressed_to(["support@shop.example.test.evil"], SUPPORT)
        assert not addressed_to([SUPPORT], "")


class TestSms:
    @pytest.mark.parametrize(("change", "expected"), [
        ({}, Intake("open", None, "to the support number")),
        ({"open_ticket": (4, "waiting_on_customer")}, Intake("continue", 4, "the contact's open SMS ticket")),
        ({"open_ticket": (4, "resolved")}, Intake("continue", 4, "the contact's open SMS ticket")),
        ({"open_ticket": (4, "closed")}, Intake("open", None, "to the support number")),
        ({"to": "+15550000000"}, Intake("reply", None, "not to the support number")),
        ({"to": "+15550000000", "rule_opens": "complaint_hu"},
         Intake("open", None, "the policy's rule 'complaint_hu' opens a ticket")),
        ({"to": "+15550000000", "rule_opens": "complaint_hu", "open_ticket": (4, "open")},
         Intake("continue", 4, "the contact's open SMS ticket")),
        ({"to": "+15550000000", "open_ticket": (4, "open")}, Intake("reply", None, "not to the support number")),
        ({"support_number": ""}, Intake("reply", None, "not to the support number")),
        ({"keyword": True}, Intake("reply", None, "an SMS keyword")),
        ({"contact_known": False}, Intake("reply", None, "the sender is no contact")),
        ({"already": (4, "new"), "opened_by_it": True, "open_ticket": (4, "new")},
         Intake("open", 4, "this message opened the ticket")),
    ])
    def test_decisions(self, change: dict[str, Any], expected: Intake) -> None:
        assert decide_sms(**{**SMS, **change}) == expected

    def test_numbers_compare_as_e164(self) -> None:
        assert same_number("+36 1 555 0100", "+3615550100")
        assert not same_number("+3615550100", "+3615550101")
        assert not same_number("+3615550100", "")
        assert same_number("shortcode", "shortcode")
