"""Every kind of definition in one discriminated union on ``kind``: sequences, lead policies
and SLA policies share the definitions store (save, validate, version, publish, pin), its JSON
Schema endpoint, preview and the CLI. A document without ``kind`` is a sequence."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Tag, TypeAdapter

from followthrough.dsl.schema import SequenceDefinition
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.tickets.policy import SlaPolicyDefinition

Kind = Literal["sequence", "lead_policy", "sla_policy"]
KINDS: tuple[str, ...] = get_args(Kind)
#: The model of each kind (its JSON Schema alone: ``GET /v1/definitions/schema?kind=``).
MODELS: dict[str, type[SequenceDefinition | LeadPolicyDefinition | SlaPolicyDefinition]] = {
    "sequence": SequenceDefinition, "lead_policy": LeadPolicyDefinition, "sla_policy": SlaPolicyDefinition,
}


def _kind(value: Any) -> str:
    found = value.get("kind", "sequence") if isinstance(value, dict) else getattr(value, "kind", None)
    return found if found in KINDS else "sequence"


AnyDefinition = Annotated[
    Annotated[SequenceDefinition, Tag("sequence")]
    | Annotated[LeadPolicyDefinition, Tag("lead_policy")]
    | Annotated[SlaPolicyDefinition, Tag("sla_policy")],
    Discriminator(_kind),
]
#: One parsed definition of any kind.
Parsed = SequenceDefinition | LeadPolicyDefinition | SlaPolicyDefinition

ADAPTER: TypeAdapter[Parsed] = TypeAdapter(AnyDefinition)


def unknown_kind(document: Any) -> str | None:
    """The ``kind`` a document claims when it is none of ``KINDS`` (else None): such a document
    is refused on its kind alone, not checked as the sequence it is not."""
    if not isinstance(document, dict) or "kind" not in document:
        return None
    kind = document["kind"]
    if kind in KINDS:
        return None
    return f"'{kind}'" if isinstance(kind, str) else repr(kind)


def schema(kind: str | None = None) -> dict[str, Any]:
    """The JSON Schema of definition documents: the union, or one kind's."""
    return ADAPTER.json_schema() if kind is None else MODELS[kind].model_json_schema()
