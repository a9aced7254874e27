"""What the door adds to a message besides its template: for a message to a user, who reads it
(their language and zone) and the contact's latest timeline entries; for an email carrying an
invitation, the RFC 5545 part."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from channels.base import Attachment
from followthrough.models.runs import DeliverInput
from followthrough.models.vocab import Channel
from followthrough.rendering import TIMELINE_ENTRIES, Reader, RenderedMessage
from followthrough.settings import Settings
from followthrough.store import timeline
from followthrough.store.db import as_utc
from followthrough.store.tables import utcnow
from followthrough.tasks.invite import build_ics


@dataclass(frozen=True)
class Audience:
    """Who reads a message to a user and the contact's latest timeline entries it may show; a
    contact's own message has neither (it is written for the contact)."""

    reader: Reader | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)


def audience(session: Session, input: DeliverInput, user: Reader | None) -> Audience:
    """The reader of a message to ``user`` (their language and zone) and the contact's latest
    timeline entries; a contact's own message has neither."""
    if input.to_user_id is None:
        return Audience()
    entries = [] if input.contact_id is None else [
        {"occurred_at": as_utc(e.occurred_at), "kind": e.kind, "direction": e.direction,
         "channel": e.channel, "summary": e.summary}
        for e in timeline.page(session, input.contact_id, before=None, limit=TIMELINE_ENTRIES)]
    return Audience(user, entries)


def invitation(settings: Settings, input: DeliverInput, channel: Channel, address: str | None,
               rendered: RenderedMessage) -> tuple[Attachment, ...]:
    """The ``text/calendar; method=...`` part of an email carrying ``input.invite``: its summary
    and description are the rendered subject and text; the organizer is our sender."""
    if input.invite is None or channel != Channel.EMAIL or not address:
        return ()
    organizer = email.utils.parseaddr(settings.mail_from)[1]
    invite = input.invite
    if "@" not in invite.uid:  # a task's key: made globally unique under our mail domain
        invite = invite.model_copy(update={"uid": f"{invite.uid}@{organizer.rpartition('@')[2]}"})
    ics = build_ics(invite, organizer=organizer, attendee=address, summary=rendered.subject or "",
                    description=rendered.text, stamp=input.at or utcnow())
    return (Attachment("invite.ics", "text/calendar", ics, {"method": invite.method, "charset": "utf-8"}),)
