"""Ticket classification by the SLA policy: pure, keyword rules match word forms.

CONTRACT (intake and preview call exactly this):

    classify(policy, *, subject, text, channel, contact) -> Classification

Rules in order; the first rule that matches sets ``category`` if it sets one and it is still
unset, likewise ``priority``; unset at the end: the policy's defaults. Keywords are stemmed in
the rule's language (else the contact's locale's, else every supported one: en, ru, hu) with a
real stemmer, and so are the words of the rule's ``fields``. ``matched`` lists rule ids in order.

Words are Unicode letter-and-digit runs, lowercased, with «ё» read as «е» (Russian writers drop
the dots; the Snowball Russian stemmer expects «е»). The stemmer is Snowball's (the
``snowballstemmer`` package: the algorithms of snowballstem.org, the same ones PyStemmer, Lucene
and PostgreSQL's full-text search use), so «жалоба» catches «жалобу» and «жалобой», «panasz»
catches «panaszt» and «panaszom», "refund" catches "refunded". A stemmer conflates inflections,
not derivations: "complaint" catches "complaints" but not "complained" (stem "complain"), so a
rule that wants both names both words. A keyword of several words matches them in a row.

A rule's ``when`` sees ``contact`` (as expressions see it: ``locale``, ``attributes`` ...) and
``ticket`` (``subject``, ``text``, ``channel``; ``category`` and ``priority`` read None here, as
they are being decided); an expression that fails makes the rule not match
and its reason is kept in ``errors``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer

from followthrough.dsl.expressions import holds
from followthrough.tickets.policy import ClassificationRule, SlaPolicyDefinition

#: Our language codes -> Snowball's algorithm names.
STEMMERS: dict[str, str] = {"en": "english", "ru": "russian", "hu": "hungarian"}
LANGUAGES: tuple[str, ...] = tuple(STEMMERS)
#: A word: a run of letters and digits (``\w`` without the underscore).
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Classification:
    category: str
    priority: str
    matched: list[str] = field(default_factory=list)
    #: rule id -> the words that matched
    words: dict[str, list[str]] = field(default_factory=dict)
    #: rule id -> why its ``when`` could not be evaluated (the rule did not match)
    errors: dict[str, str] = field(default_factory=dict)
    #: The rule that set the category / the priority (None: the policy's default).
    category_rule: str | None = None
    priority_rule: str | None = None
    #: The first matching rule that says an SMS like this opens a ticket (None: none does).
    opens_ticket_rule: str | None = None


def words(text: str) -> list[str]:
    """The words of ``text`` as classification compares them: lowercased, «ё» as «е»."""
    return _WORD.findall(text.lower().replace("ё", "е"))


def rule_languages(rule: ClassificationRule, contact: Mapping[str, Any]) -> tuple[str, ...]:
    """The languages a rule stems in: its own, else the contact's locale's, else all."""
    if rule.language is not None:
        return (rule.language,)
    locale = str(contact.get("locale") or "").lower().replace("_", "-").split("-")[0]
    return (locale,) if locale in STEMMERS else LANGUAGES


@lru_cache(maxsize=65536)
def stem(language: str, word: str) -> str:
    """``word``'s Snowball stem in ``language``. Cached: the same words recur ticket after
    ticket, and a stem costs ~50 µs in pure Python. A stemmer object keeps state while it stems,
    so each miss builds its own (~5 µs) rather than share one between threads."""
    return str(snowballstemmer.stemmer(STEMMERS[language]).stemWord(word))


class _Stems:
    """The stemmed words of one classification's fields, per language."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._words = {name: words(value) for name, value in fields.items()}
        self._stemmed: dict[tuple[str, str], list[str]] = {}

    def stem(self, language: str, tokens: Iterable[str]) -> list[str]:
        return [stem(language, token) for token in tokens]

    def field(self, language: str, name: str) -> tuple[list[str], list[str]]:
        """(the words of a field, their stems in ``language``)."""
        key = (language, name)
        if key not in self._stemmed:
            self._stemmed[key] = self.stem(language, self._words[name])
        return self._words[name], self._stemmed[key]


def _find(phrase: Sequence[str], stems: Sequence[str]) -> int | None:
    """Where the stems of ``phrase`` first occur in a row in ``stems``."""
    width = len(phrase)
    for start in range(len(stems) - width + 1):
        if list(stems[start:start + width]) == list(phrase):
            return start
    return None


def _keyword_words(rule: ClassificationRule, languages: Sequence[str], stems: _Stems) -> list[str]:
    """The words of the ticket (as written, lowercased) that match one of the rule's keywords."""
    found: list[str] = []
    for keyword in rule.keywords:
        tokens = words(keyword)
        if not tokens:
            continue
        for language in languages:
            phrase = stems.stem(language, tokens)
            hit = None
            for name in rule.fields:
                original, stemmed = stems.field(language, name)
                at = _find(phrase, stemmed)
                if at is not None:
                    hit = " ".join(original[at:at + len(phrase)])
                    break
            if hit is not None:
                if hit not in found:
                    found.append(hit)
                break
    return found


def classify(policy: SlaPolicyDefinition, *, subject: str, text: str, channel: str,
             contact: Mapping[str, Any]) -> Classification:
    """Category and priority of a ticket by ``policy``'s classification rules (see the module)."""
    stems = _Stems({"subject": subject, "text": text})
    # ``category`` and ``priority`` are what classification decides: None while it runs.
    names = {"contact": dict(contact), "ticket": {"subject": subject, "text": text, "channel": channel,
                                                  "category": None, "priority": None}}
    category: str | None = None
    priority: str | None = None
    category_rule = priority_rule = opens_rule = None
    matched: list[str] = []
    found_words: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for rule in policy.classification:
        if rule.channel is not None and rule.channel != channel:
            continue
        if rule.keywords:
            hits = _keyword_words(rule, rule_languages(rule, contact), stems)
            if not hits:
                continue
        else:
            hits = []
        if rule.when is not None:
            ok, reason = holds(rule.when, names)
            if reason is not None:
                errors[rule.id] = reason
            if not ok:
                continue
        matched.append(rule.id)
        if hits:
            found_words[rule.id] = hits
        if category is None and rule.category is not None:
            category, category_rule = rule.category, rule.id
        if priority is None and rule.priority is not None:
            priority, priority_rule = rule.priority, rule.id
        if opens_rule is None and rule.opens_ticket:
            opens_rule = rule.id
    return Classification(
        category=category or policy.default_category, priority=priority or policy.default_priority,
        matched=matched, words=found_words, errors=errors,
        category_rule=category_rule, priority_rule=priority_rule, opens_ticket_rule=opens_rule)
