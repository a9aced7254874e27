"""Consent and preferences per contact: consent per (channel, category), preferred channel, pause.

Consent is stored as explicit answers; a (channel, category) pair without a row is granted. Every
change of an answer is recorded on the contact's timeline with who made it (``source``).

A withdrawal that came from the contact (an SMS STOP, the unsubscribe page, a carrier's opt-out,
a hard bounce) sticks: staff (``api``) cannot grant it back, only the contact can, by texting
START or on the preference page. The row keeps who withdrew it (``revocation_source``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import Enum
from typing import Final

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from followthrough.errors import Conflict, FieldError
from followthrough.models.vocab import Category, Channel
from followthrough.store import contacts, timeline
from followthrough.store.db import as_utc
from followthrough.store.tables import Consent, ContactPreference, utcnow

#: Where a consent answer came from (stored on the row and on the timeline entry).
SOURCES: Final = frozenset({"api", "keyword", "unsubscribe", "bounce", "provider"})
#: Sources that speak for the contact: their withdrawals cannot be undone by staff.
CONTACT_SOURCES: Final = frozenset({"keyword", "unsubscribe", "bounce", "provider"})
#: The only sources that may grant back what the contact withdrew: their own START, their page.
REGRANT_SOURCES: Final = frozenset({"keyword", "unsubscribe"})
_HOW = {
    "keyword": "an SMS STOP keyword",
    "unsubscribe": "the unsubscribe page",
    "provider": "the carrier's opt-out",
    "bounce": "a hard bounce",
}
_CHANNELS = frozenset(c.value for c in Channel)
_CATEGORIES = frozenset(c.value for c in Category)


class RevokedByContact(Conflict):
    """Staff tried to give back consent the contact withdrew themselves."""

    code = "revoked_by_contact"


class _Unset(Enum):
    UNSET = "unset"


#: "Not given" for :func:`update`, distinct from ``None`` (which clears a field).
UNSET: Final = _Unset.UNSET


class Preferences(BaseModel):
    """What a contact agreed to and prefers; ``consent`` has every channel × category."""

    preferred_channel: Channel | None = None
    paused_until: datetime | None = None
    consent: dict[Channel, dict[Category, bool]]


def get(session: Session, contact_id: int) -> Preferences:
    """The contact's preferences (404 for an unknown contact), every consent pair filled in."""
    contacts.get(session, contact_id)
    consent = {channel: dict.fromkeys(Category, True) for channel in Channel}
    for row in session.exec(select(Consent).where(Consent.contact_id == contact_id)):
        if row.channel in _CHANNELS and row.category in _CATEGORIES:
            consent[Channel(row.channel)][Category(row.category)] = row.granted
    prefs = session.get(ContactPreference, contact_id)
    return Preferences(
        preferred_channel=Channel(prefs.preferred_channel) if prefs and prefs.preferred_channel else None,
        paused_until=as_utc(prefs.paused_until) if prefs else None,
        consent=consent,
    )


def update(
    session: Session,
    contact_id: int,
    *,
    preferred_channel: Channel | None | _Unset = UNSET,
    paused_until: datetime | None | _Unset = UNSET,
    consent: Mapping[Channel, Mapping[Category, bool]] | _Unset = UNSET,
    source: str = "api",
) -> Preferences:
    """Change only what is given; ``None`` clears the preferred channel or the pause.

    Raises :class:`RevokedByContact` (409), before writing anything, when a grant would undo a
    withdrawal the contact made and ``source`` cannot re-grant it.
    """
    contacts.get(session, contact_id)
    if consent is not UNSET:
        wanted = {Channel(ch): [Category(c) for c, v in answers.items() if v] for ch, answers in consent.items()}
        _check_regrant(session, contact_id, wanted, source)
    if preferred_channel is not UNSET or paused_until is not UNSET:
        prefs = session.get(ContactPreference, contact_id) or ContactPreference(contact_id=contact_id)
        if preferred_channel is not UNSET:
            prefs.preferred_channel = Channel(preferred_channel) if preferred_channel else None
        if paused_until is not UNSET:
            prefs.paused_until = as_utc(paused_until)
        prefs.updated_at = utcnow()
        session.add(prefs)
        session.flush()
    if consent is not UNSET:
        for channel, answers in consent.items():
            granted = [category for category, value in answers.items() if value]
            revoked = [category for category, value in answers.items() if not value]
            if granted:
                grant(session, contact_id, channel, granted, source=source)
            if revoked:
                revoke(session, contact_id, channel, revoked, source=source)
    return get(session, contact_id)


def revoke(
    session: Session,
    contact_id: int,
    channel: Channel,
    categories: list[Category] | None = None,
    *,
    source: str,
) -> None:
    """Withdraw consent for these categories on the channel (``None``: every category)."""
    _set(session, contact_id, Channel(channel), categories, granted=False, source=source)


def grant(
    session: Session,
    contact_id: int,
    channel: Channel,
    categories: list[Category] | None = None,
    *,
    source: str,
) -> None:
    """Give consent back for these categories on the channel (``None``: every category).

    Raises :class:`RevokedByContact` when one of them was withdrawn by the contact and
    ``source`` is not the contact's own (START keyword, preference page).
    """
    _check_regrant(session, contact_id, {Channel(channel): list(Category if categories is None else categories)},
                   source)
    _set(session, contact_id, Channel(channel), categories, granted=True, source=source)


def _check_regrant(
    session: Session, contact_id: int, wanted: Mapping[Channel, Iterable[Category]], source: str
) -> None:
    if source in REGRANT_SOURCES:
        return
    blocked: list[tuple[Consent, str]] = []
    for channel, categories in wanted.items():
        names = [Category(c).value for c in categories]
        if not names:
            continue
        query = select(Consent).where(
            Consent.contact_id == contact_id, Consent.channel == Channel(channel),
            Consent.granted == False,  # noqa: E712 - SQL, not Python truthiness
            col(Consent.category).in_(names),
        )
        for row in session.exec(query.order_by(col(Consent.category))):
            if row.revocation_source in CONTACT_SOURCES:
                where = f"/consent/{row.channel}/{row.category}"
                blocked.append((row, where))
    if not blocked:
        return
    how = sorted({_HOW[row.revocation_source or ""] for row, _ in blocked})
    raise RevokedByContact(
        f"The contact withdrew this consent themselves ({', '.join(how)}); staff cannot give it "
        "back. Only the contact can: by texting START for SMS, or on the preference page linked "
        "from every message.",
        errors=[FieldError(where, f"withdrawn by the contact ({row.revocation_source})")
                for row, where in blocked],
    )


def _set(
    session: Session,
    contact_id: int,
    channel: Channel,
    categories: Iterable[Category] | None,
    *,
    granted: bool,
    source: str,
) -> None:
    if source not in SOURCES:
        raise ValueError(f"unknown consent source {source!r}; use one of {sorted(SOURCES)}")
    contacts.get(session, contact_id)  # a NotFound, not a foreign-key error, for a stale id
    wanted = [Category(c) for c in (Category if categories is None else categories)]
    wanted = list(dict.fromkeys(wanted))  # keep the order given, drop repeats
    changed = [c for c in wanted if _write(session, contact_id, channel, c, granted, source)]
    if not changed:
        return  # a repeated STOP or unsubscribe changes nothing and adds no noise to the timeline
    verb = "granted" if granted else "revoked"
    names = [str(c) for c in changed]
    timeline.record(
        session,
        contact_id=contact_id,
        kind=f"consent.{verb}",
        channel=channel,
        summary=f"{channel} consent {verb} for {', '.join(names)} ({source})",
        data={"channel": str(channel), "categories": names, "source": source},
    )


def _write(
    session: Session, contact_id: int, channel: Channel, category: Category, granted: bool, source: str
) -> bool:
    """Upsert one answer; True when it changed what the contact effectively agreed to."""
    query = select(Consent).where(
        Consent.contact_id == contact_id, Consent.channel == channel, Consent.category == category
    )
    row = session.exec(query).first()
    if row is None:
        try:
            # A savepoint, so losing an insert race leaves the caller's transaction usable.
            with session.begin_nested():
                session.add(Consent(contact_id=contact_id, channel=channel, category=category,
                                    granted=granted, source=source, updated_at=utcnow(),
                                    revocation_source=None if granted else source))
            return not granted  # no row meant granted
        except IntegrityError:
            row = session.exec(query).one()
    if row.granted == granted:
        # Already withdrawn by staff, now by the contact too: the contact's word is what sticks.
        if not granted and source in CONTACT_SOURCES and row.revocation_source != source:
            row.revocation_source, row.updated_at = source, utcnow()
            session.add(row)
            session.flush()
        return False
    row.granted, row.source, row.updated_at = granted, source, utcnow()
    row.revocation_source = None if granted else source
    session.add(row)
    session.flush()
    return True
