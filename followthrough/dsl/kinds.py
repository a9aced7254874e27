"""Every kind of definition in one discriminated union on ``kind``: sequences, lead policies
and SLA policies share the definitions store (save, validate, version, publish, pin), its JSON
Schema endpoint, preview and the CLI. A document without ``kind`` is a sequence."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from followthrough.dsl.schema import SequenceDefinition
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.tickets.policy import SlaPolicyDefinition

KINDS: tuple[str, ...] = ("sequence", "lead_policy", "sla_policy")


def _kind(value: Any) -> str:
    found = value.get("kind", "sequence") if isinstance(value, dict) else getattr(value, "kind", None)
    return found if found in KINDS else "sequence"


AnyDefinition = Annotated[
    Annotated[SequenceDefinition, Tag("sequence")]
    | Annotated[LeadPolicyDefinition, Tag("lead_policy")]
    | Annotated[SlaPolicyDefinition, Tag("sla_policy")],
    Discriminator(_kind),
]
