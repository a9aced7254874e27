"""The suppression list: (channel, address) pairs no message may go to, whatever the consent.

Addresses are compared normalised (emails lower-cased, phone numbers as stored, E.164), so a
bounce for ``Anna@Example.test`` suppresses the contact stored as ``anna@example.test``.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.errors import FieldError, NotFound
from followthrough.models.vocab import Channel
from followthrough.store.preferences import RevokedByContact
from followthrough.store.tables import Suppression


def normalize(channel: Channel | str, address: str) -> str:
    """The form an address is stored and compared in."""
    address = address.strip()
    # Local parts are case-sensitive by RFC 5321, but no real mailbox relies on it, and a
    # bounce must not slip through because the CRM spelled the address differently.
    return address.lower() if Channel(channel) == Channel.EMAIL else address


def add(
    session: Session, channel: Channel | str, address: str, *, reason: str, source: str
) -> tuple[Suppression, bool]:
    """Suppress an address; idempotent: ``(row, False)`` when it already was."""
    channel, address = Channel(channel), normalize(channel, address)
    existing = find(session, channel, address)
    if existing is not None:
        return existing, False
    row = Suppression(channel=channel, address=address, reason=reason, source=source)
    try:
        # Two bounces for one address may arrive at once: the loser finds the winner's row.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        winner = find(session, channel, address)
        if winner is None:
            raise
        return winner, False
    return row, True


#: Suppressions that are the contact's own opt-out (an SMS STOP from the number, a carrier's
#: opt-out, Twilio 21610): only the number's START lifts them, never staff. A bounce is a
#: delivery fact, not a choice: staff may lift it once the mailbox works again.
CONTACT_SOURCES = frozenset({"keyword", "provider"})


def remove(session: Session, suppression_id: int, *, source: str = "api") -> Suppression:
    """Delete one entry by id (404 when unknown); returns the deleted row.

    Raises :class:`RevokedByContact` (409) when staff (``source="api"``) try to lift the
    contact's own opt-out; the START keyword (``source="keyword"``) may.
    """
    row = session.get(Suppression, suppression_id)
    if row is None:
        raise NotFound(f"suppression {suppression_id} does not exist")
    if row.source in CONTACT_SOURCES and source != "keyword":
        raise RevokedByContact(
            f"The number's owner opted out themselves ({row.reason or row.source}); staff cannot "
            "lift it. Only a START texted from that number can.",
            errors=[FieldError("/source", f"opted out by the contact ({row.source})")],
        )
    session.delete(row)
    session.flush()
    return row


def find(session: Session, channel: Channel | str, address: str) -> Suppression | None:
    query = select(Suppression).where(
        Suppression.channel == Channel(channel), Suppression.address == normalize(channel, address)
    )
    return session.exec(query).first()


def is_suppressed(session: Session, channel: Channel | str, address: str) -> bool:
    return find(session, channel, address) is not None


def list_page(
    session: Session,
    channel: Channel | str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[Suppression]:
    """Newest first; ``before`` is the last id seen (the page cursor)."""
    query = select(Suppression)
    if channel is not None:
        query = query.where(Suppression.channel == Channel(channel))
    if before is not None:
        query = query.where(col(Suppression.id) < before)
    return list(session.exec(query.order_by(col(Suppression.id).desc()).limit(limit)))
