"""What an SLA policy would do to a ticket, nothing written.

CONTRACT (filled in by the tickets-core work; the definitions' preview endpoint routes
``sla_policy`` documents here):

    preview(session, policy, *, contact, ticket, now) -> dict

- ``contact``: the contact as expressions see it (a stored contact's snapshot, or a sample);
  ``ticket``: ``{"subject", "text", "channel"}``; ``now``: the moment the ticket arrives.
- The answer (plain JSON data): category and priority with the rules that matched
  (``classify``), the team and assignee it would get, the planned SLA times (first response,
  next response, resolution) on the policy's calendar and the ladder's instants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from followthrough.tickets.policy import SlaPolicyDefinition


def preview(session: Session, policy: SlaPolicyDefinition, *, contact: dict[str, Any],
            ticket: dict[str, Any], now: datetime) -> dict[str, Any]:
    raise NotImplementedError
