"""The built-in SLA policy (definitions/support_sla.yaml): valid once its team exists, and
classifying complaints, urgency and refunds in English, Russian and Hungarian by word forms, with
no rule erring on a contact that lacks the attributes it reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from followthrough.bootstrap import load_definition_file
from followthrough.calendar import BUILTIN_CALENDARS
from followthrough.dsl.checks import References
from followthrough.dsl.validate import validate
from followthrough.settings import PROJECT_ROOT
from followthrough.tickets import sla
from followthrough.tickets.classify import classify
from followthrough.tickets.policy import SlaPolicyDefinition

PATH = PROJECT_ROOT / "definitions" / "support_sla.yaml"
POLICY = load_definition_file(PATH)
assert isinstance(POLICY, SlaPolicyDefinition)
BARE: dict[str, Any] = {"id": 1, "locale": "en", "time_zone": "UTC", "attributes": {}}


def classified(text: str, locale: str = "en", **contact: Any) -> tuple[str, str, list[str]]:
    assert isinstance(POLICY, SlaPolicyDefinition)
    found = classify(POLICY, subject="", text=text, channel="email", contact={**BARE, "locale": locale, **contact})
    assert found.errors == {}
    return found.category, found.priority, found.matched


class TestDefinition:
    def test_validates_with_its_team(self) -> None:
        document = yaml.safe_load(PATH.read_text(encoding="utf-8"))
        refs = References(teams={"support": 2}, definitions={}, users=set())
        parsed, errors, warnings = validate(document, lambda *_: True, references=refs)
        assert (errors, warnings) == ([], [])
        assert isinstance(parsed, SlaPolicyDefinition)
        assert (parsed.name, parsed.calendar, parsed.default_team, set(parsed.priorities)) == (
            "support_sla", "default", "support", {"urgent", "high", "normal", "low"})

    def test_without_a_support_team_it_says_so(self) -> None:
        document = yaml.safe_load(PATH.read_text(encoding="utf-8"))
        errors = validate(document, lambda *_: True, references=References(teams={}, definitions={}, users=set()))[1]
        assert [e.path for e in errors] == ["/default_team"]


class TestClassification:
    @pytest.mark.parametrize(("text", "locale", "expected"), [
        ("I want to file a complaint about my order", "en", ("complaint", "high", ["complaint_en"])),
        ("I complained twice already", "en", ("complaint", "high", ["complaint_en"])),
        ("Хочу подать жалобу на курьера", "ru", ("complaint", "high", ["complaint_ru"])),
        ("Пишу с жалобой", "ru", ("complaint", "high", ["complaint_ru"])),
        ("Претензию отправил вчера", "ru", ("complaint", "high", ["complaint_ru"])),
        ("Panaszt szeretnék tenni", "hu", ("complaint", "high", ["complaint_hu"])),
        ("A panaszom a futárral kapcsolatos", "hu", ("complaint", "high", ["complaint_hu"])),
        ("The site is not working, urgent complaint!", "en",
         ("complaint", "urgent", ["urgent_en", "complaint_en"])),
        ("Срочно! Приложение не работает", "ru", ("general", "urgent", ["urgent_ru"])),
        ("Sürgősen kérek segítséget, nem működik", "hu", ("general", "urgent", ["urgent_hu"])),
        ("Верните деньги за заказ", "ru", ("refund", "normal", ["refund_ru"])),
        ("Please refund my order", "en", ("refund", "normal", ["refund_en"])),
        ("When does the shop open?", "en", ("general", "normal", [])),
    ])
    def test_word_forms_in_three_languages(self, text: str, locale: str, expected: tuple[str, str, list[str]]) -> None:
        assert classified(text, locale) == expected

    def test_a_vip_is_never_below_high(self) -> None:
        assert classified("When does the shop open?", attributes={"tier": "vip"}) == ("general", "high", ["vip"])


class TestTargets:
    def test_an_urgent_ticket_is_answered_within_half_a_working_hour(self) -> None:
        assert isinstance(POLICY, SlaPolicyDefinition)
        friday = datetime(2026, 12, 4, 16, 50, tzinfo=UTC)  # the default calendar closes at 17:00 UTC
        state = sla.start(POLICY, "urgent", calendars=BUILTIN_CALENDARS, holidays={}, at=friday)
        assert state.deadline("first_response", friday) == datetime(2026, 12, 7, 9, 20, tzinfo=UTC)
        assert all(due.urgent for due in sla.plan(state, POLICY, (), friday))
