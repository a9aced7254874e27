"""Ticket classification: keyword rules match word forms (Snowball stemmers, en/ru/hu), narrowed
by channel and ``when``; the first matching rule sets each of category and priority."""

from __future__ import annotations

from typing import Any

import pytest

from followthrough.tickets.classify import classify, rule_languages, words
from followthrough.tickets.policy import ClassificationRule, SlaPolicyDefinition


def policy(*rules: dict[str, Any], **fields: Any) -> SlaPolicyDefinition:
    return SlaPolicyDefinition.model_validate({
        "name": "support", "kind": "sla_policy", "default_team": "support",
        "priorities": {"normal": {"first_response": "PT4H", "resolution": "P2D"},
                       "high": {"first_response": "PT1H", "resolution": "P1D"},
                       "urgent": {"first_response": "PT15M", "resolution": "PT4H"}},
        "classification": list(rules), **fields})


RU = {"id": "ru", "language": "ru", "keywords": ["жалоба"], "category": "complaint", "priority": "high"}
HU = {"id": "hu", "language": "hu", "keywords": ["panasz"], "category": "complaint", "priority": "high"}
EN = {"id": "en", "language": "en", "keywords": ["complaint", "complain"], "category": "complaint",
      "priority": "high"}
NOBODY: dict[str, Any] = {"locale": "en", "attributes": {}}


def run(rules: list[dict[str, Any]], text: str, *, subject: str = "", channel: str = "email",
        contact: dict[str, Any] | None = None) -> Any:
    return classify(policy(*rules), subject=subject, text=text, channel=channel,
                    contact=NOBODY if contact is None else contact)


class TestWordForms:
    @pytest.mark.parametrize(("rule", "text", "word"), [
        (RU, "Это жалоба на курьера", "жалоба"),
        (RU, "Хочу подать жалобу.", "жалобу"),
        (RU, "Пишу с жалобой на доставку", "жалобой"),
        (RU, "Жалобы никто не читает", "жалобы"),
        (HU, "Panasz a futárra", "panasz"),
        (HU, "Panaszt szeretnék tenni", "panaszt"),
        (HU, "A panaszom a következő", "panaszom"),
        (HU, "Panaszomat senki nem olvasta", "panaszomat"),
        (HU, "Panasszal élek", "panasszal"),  # the instrumental assimilates the s: panasz+val
        (EN, "This is a formal complaint", "complaint"),
        (EN, "Two complaints so far", "complaints"),
        (EN, "I complained twice", "complained"),  # by the keyword "complain": its own stem
        (EN, "Complaining does not help", "complaining"),
    ])
    def test_a_keyword_catches_its_inflected_forms(self, rule: dict[str, Any], text: str, word: str) -> None:
        result = run([rule], text)
        assert (result.category, result.priority, result.matched) == ("complaint", "high", [rule["id"]])
        assert result.words == {rule["id"]: [word]}

    def test_a_stemmer_conflates_inflections_not_derivations(self) -> None:
        """"complained" stems to "complain", not to "complaint": a rule names both words."""
        result = run([{**EN, "keywords": ["complaint"]}], "I complained twice")
        assert (result.matched, result.category, result.priority) == ([], "general", "normal")

    @pytest.mark.parametrize(("rule", "text"), [
        (RU, "Жалко, но всё хорошо"),         # «жалко» is not a form of «жалоба»
        (HU, "Panaszkodni nem szokásom"),      # a verb derived from it: stem "panaszkod"
        (EN, "Compliant with the rules"),
        (RU, "жалобаXYZ"),                     # a word is compared whole, never as a substring
    ])
    def test_other_words_do_not_match(self, rule: dict[str, Any], text: str) -> None:
        assert run([rule], text).matched == []

    def test_yo_reads_as_ye_and_case_does_not_matter(self) -> None:
        rule = {"id": "ru", "language": "ru", "keywords": ["ещё"], "category": "repeat"}
        assert words("ЕЩЁ раз, Ещё") == ["еще", "раз", "еще"]
        assert run([rule], "Пишу ЕЩЕ раз").category == "repeat"

    def test_a_keyword_of_several_words_matches_them_in_a_row(self) -> None:
        rule = {"id": "refund", "language": "en", "keywords": ["money back"], "category": "refund"}
        assert run([rule], "I want my money back now").words == {"refund": ["money back"]}
        assert run([rule], "back to the money topic").matched == []

    def test_fields_limit_where_keywords_are_looked_for(self) -> None:
        rule = {**RU, "fields": ["subject"]}
        assert run([rule], "жалоба", subject="Вопрос").matched == []
        assert run([rule], "вопрос", subject="Жалоба").matched == ["ru"]


class TestLanguages:
    def test_a_rule_stems_in_its_language_else_the_contacts_else_all(self) -> None:
        rule = ClassificationRule(id="r", keywords=["x"], category="c")
        assert rule_languages(rule, {"locale": "hu-HU"}) == ("hu",)
        assert rule_languages(rule, {"locale": "ru_RU"}) == ("ru",)
        assert rule_languages(rule, {"locale": "de"}) == ("en", "ru", "hu")
        assert rule_languages(rule, {}) == ("en", "ru", "hu")
        assert rule_languages(ClassificationRule(id="r", keywords=["x"], category="c", language="en"),
                              {"locale": "ru"}) == ("en",)

    def test_without_a_language_the_contacts_locale_decides(self) -> None:
        rule = {"id": "any", "keywords": ["жалоба", "panasz"], "category": "complaint"}
        assert run([rule], "жалобу", contact={"locale": "ru"}).matched == ["any"]
        assert run([rule], "panaszomat", contact={"locale": "hu"}).matched == ["any"]
        # An English stemmer leaves «жалобу» as it is: no match for an English contact.
        assert run([rule], "жалобу", contact={"locale": "en"}).matched == []
        # No known locale: every stemmer is tried.
        assert run([rule], "жалобу", contact={"locale": "de"}).matched == ["any"]
        assert run([rule], "panaszomat", contact={}).matched == ["any"]


class TestRules:
    def test_the_first_match_sets_each_field_and_every_match_is_listed(self) -> None:
        rules = [
            {"id": "vip", "when": "contact.attributes.tier == 'vip'", "priority": "urgent"},
            {**RU, "priority": "high"},
            {"id": "refund", "language": "ru", "keywords": ["возврат"], "category": "refund",
             "priority": "normal"},
        ]
        vip = {"locale": "ru", "attributes": {"tier": "vip"}}
        result = run(rules, "Жалоба и возврат денег", contact=vip)
        assert result.matched == ["vip", "ru", "refund"]
        assert (result.category, result.category_rule) == ("complaint", "ru")
        assert (result.priority, result.priority_rule) == ("urgent", "vip")
        assert result.words == {"ru": ["жалоба"], "refund": ["возврат"]}

    def test_the_first_matching_rule_that_opens_tickets_is_named(self) -> None:
        rules = [{**RU, "id": "ru_quiet"}, {**HU, "opens_ticket": True},
                 {"id": "any_sms", "channel": "sms", "opens_ticket": True}]
        assert run(rules, "жалоба", channel="sms").opens_ticket_rule == "any_sms"
        assert run(rules, "panaszom", channel="sms").opens_ticket_rule == "hu"
        assert run(rules, "жалоба", channel="email").opens_ticket_rule is None

    def test_nothing_matches_the_policys_defaults(self) -> None:
        result = classify(policy(RU, default_priority="high", default_category="question"),
                          subject="Вопрос", text="Когда доставка?", channel="sms", contact=NOBODY)
        assert (result.category, result.priority, result.matched, result.category_rule) == (
            "question", "high", [], None)

    def test_channel_narrows_a_rule(self) -> None:
        rules = [{**RU, "channel": "sms"}]
        assert run(rules, "жалоба", channel="email").matched == []
        assert run(rules, "жалоба", channel="sms").matched == ["ru"]

    def test_a_rule_on_channel_alone(self) -> None:
        assert run([{"id": "voice", "channel": "voice", "priority": "high"}], "", channel="voice").priority == "high"

    def test_when_sees_contact_and_ticket(self) -> None:
        rule = {**RU, "when": "ticket.channel == 'sms' and contact.attributes.tier == 'gold'"}
        gold = {"locale": "ru", "attributes": {"tier": "gold"}}
        assert run([rule], "жалоба", channel="sms", contact=gold).matched == ["ru"]
        assert run([rule], "жалоба", channel="email", contact=gold).matched == []
        assert run([rule], "вопрос", channel="sms", contact=gold).matched == []  # keywords still needed

    def test_an_expression_that_fails_does_not_match_and_says_why(self) -> None:
        rule = {"id": "bad", "when": "contact.attributes.tier.upper() == 'X'", "priority": "urgent"}
        result = run([rule], "text", contact={"locale": "en", "attributes": {}})
        assert result.matched == [] and result.priority == "normal"
        assert "condition error" in result.errors["bad"] and "tier" in result.errors["bad"]
