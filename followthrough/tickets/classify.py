"""Ticket classification by the SLA policy: pure, keyword rules match word forms.

CONTRACT (filled in by the tickets-core work; intake and preview call exactly this):

    classify(policy, *, subject, text, channel, contact) -> Classification

Rules in order; the first rule that matches sets ``category`` if it sets one and it is still
unset, likewise ``priority``; unset at the end: the policy's defaults. Keywords are stemmed in
the rule's language (else the contact's locale's, else every supported one: en, ru, hu) with a
real stemmer, and so are the words of the rule's ``fields``. ``matched`` lists rule ids in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from followthrough.tickets.policy import SlaPolicyDefinition


@dataclass(frozen=True)
class Classification:
    category: str
    priority: str
    matched: list[str] = field(default_factory=list)
    #: rule id -> the words that matched
    words: dict[str, list[str]] = field(default_factory=dict)


def classify(policy: SlaPolicyDefinition, *, subject: str, text: str, channel: str,
             contact: Mapping[str, Any]) -> Classification:
    raise NotImplementedError
