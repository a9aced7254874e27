"""Load what the contact policy needs about one contact, under a per-contact lock.

The delivery door calls ``lock_contact``, ``load_state``, ``decide`` and claims the ledger row in
one transaction, so messages racing to one contact from any number of workflows decide one after
the other and each sees the sends claimed before it: a cap is never exceeded, even by one.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, exists, false, func, or_, text
from sqlmodel import Session, col, select

from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.policy.contact_policy import ContactPolicyState, PolicyConfig, RecentSend
from followthrough.store import holds
from followthrough.store.contacts import ContactFields
from followthrough.store.db import as_utc
from followthrough.store.suppressions import normalize
from followthrough.store.tables import Consent, ContactPreference, Delivery, Suppression

#: Ledger states that count against caps: claimed, sent, or possibly sent. ``failed`` and
#: ``skipped`` never reached the contact; ``deferred`` is asked again later; ``retrying`` is the
#: claim of the very message being decided (and one known not sent yet).
COUNTED_STATES = frozenset({
    LedgerState.PENDING, LedgerState.SENT, LedgerState.DELIVERED, LedgerState.UNCERTAIN,
    LedgerState.UNDELIVERED, LedgerState.BOUNCED,
})
#: Holidays are loaded for local dates from one day back to this far ahead.
HOLIDAY_HORIZON = timedelta(days=30)
_CHANNELS = frozenset(c.value for c in Channel)
_CATEGORIES = frozenset(c.value for c in Category)


def lock_contact(session: Session, contact_id: int) -> None:
    """Serialise policy decisions for one contact until the caller's transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        # A row lock on the contact: a second decider for the same contact waits here until the
        # first commits, then (READ COMMITTED) sees the ledger row the first one claimed.
        session.connection().execute(
            text("SELECT id FROM contacts WHERE id = :id FOR UPDATE"), {"id": contact_id}
        )
    else:
        # SQLite: every transaction starts with BEGIN IMMEDIATE (store.db.make_engine), which
        # takes the database write lock, so transactions are already serialised. Touching the
        # connection starts the transaction (and takes the lock) now, before anything is read.
        session.connection()


def load_state(
    session: Session, contact: ContactFields, now: datetime, config: PolicyConfig
) -> ContactPolicyState:
    """The contact's policy state at ``now``: addresses, consent, suppression, preferences,
    holds, recent sends (within the longest cap window) and public holidays near ``now``."""
    now = as_utc(now)  # type: ignore[assignment]
    if contact.id is None:
        raise ValueError("load_state needs a stored contact")
    addresses = _addresses(contact)
    # One probe for the rows most contacts never have (preferences, a revoked consent, a
    # suppressed address, a hold in force); only what exists is read (issue 9: five reads per
    # decision, the ORM's cost of each, were a twentieth of the worker's CPU). The probe and
    # the recent sends are statements built once, their values passed as parameters.
    pairs = _suppression_pairs(addresses)
    values: dict[str, object] = {"contact_id": contact.id, "now": now}
    for i, (channel, address) in enumerate(pairs.items()):
        values[f"channel_{i}"], values[f"address_{i}"] = channel.value, address
    has_prefs, has_revoked, has_suppressed, has_holds = session.connection().execute(
        _probe(len(pairs)), values).one()
    prefs = session.get(ContactPreference, contact.id) if has_prefs else None
    preferred = prefs.preferred_channel if prefs else None
    return ContactPolicyState(
        time_zone=contact.time_zone,
        addresses=addresses,
        revoked=_revoked(session, contact.id) if has_revoked else [],
        suppressed_channels=_suppressed(session, addresses) if has_suppressed else [],
        preferred_channel=Channel(preferred) if preferred in _CHANNELS else None,
        paused_until=as_utc(prefs.paused_until) if prefs else None,
        holds=holds.active(session, contact.id, now) if has_holds else [],
        recent=_recent(session, contact.id, now - lookback(config)),
        holidays=contact_holidays(contact, now),
    )


@cache
def _probe(addresses: int) -> Any:
    """Whether the contact has preferences, a revoked consent, one of ``addresses`` suppressed,
    a hold in force at ``now``: the conditions ``_revoked``, ``_suppressed`` and
    ``holds.active`` read by. Parameters: contact_id, now, channel_<i> and address_<i>."""
    contact_id: BindParameter[int] = bindparam("contact_id")
    suppressed = or_(false(), *[
        and_(col(Suppression.channel) == bindparam(f"channel_{i}"),
             col(Suppression.address) == bindparam(f"address_{i}"))
        for i in range(addresses)])
    return select(
        exists().where(col(ContactPreference.contact_id) == contact_id),
        exists().where(col(Consent.contact_id) == contact_id, col(Consent.granted).is_(False)),
        exists().where(suppressed),
        exists().where(holds.in_force(contact_id, bindparam("now"))),
    )


def lookback(config: PolicyConfig) -> timedelta:
    """How far back sends matter: the longest cap window, at least one day."""
    windows = [cap.window for policy in config.categories.values() for cap in policy.caps]
    return max([timedelta(days=1), *windows])


def _addresses(contact: ContactFields) -> dict[Channel, str]:
    found: dict[Channel, str] = {}
    if contact.email:
        found[Channel.EMAIL] = contact.email
    if contact.phone:
        found[Channel.SMS] = found[Channel.VOICE] = contact.phone
    return found


def _revoked(session: Session, contact_id: int) -> list[tuple[Channel, Category]]:
    query = (
        select(Consent)
        .where(Consent.contact_id == contact_id, col(Consent.granted).is_(False))
        .order_by(col(Consent.id))
    )
    return [
        (Channel(row.channel), Category(row.category))
        for row in session.exec(query)
        if row.channel in _CHANNELS and row.category in _CATEGORIES
    ]


def _suppression_pairs(addresses: dict[Channel, str]) -> dict[Channel, str]:
    return {channel: _normalized(channel, address) for channel, address in addresses.items()}


#: A contact's addresses as the suppression list keys them (a phone number parsed once).
_normalized = lru_cache(maxsize=4096)(normalize)


def _suppression_match(pairs: dict[Channel, str]) -> ColumnElement[bool]:
    return or_(*[
        and_(col(Suppression.channel) == channel, col(Suppression.address) == address)
        for channel, address in pairs.items()
    ])


def _suppressed(session: Session, addresses: dict[Channel, str]) -> list[Channel]:
    if not addresses:
        return []
    pairs = _suppression_pairs(addresses)
    hits = {(row.channel, row.address) for row in session.exec(select(Suppression).where(_suppression_match(pairs)))}
    return [channel for channel, address in pairs.items() if (channel.value, address) in hits]


def _recent(session: Session, contact_id: int, since: datetime) -> list[RecentSend]:
    return [
        RecentSend(category=Category(category), channel=Channel(channel), at=as_utc(moment))
        for category, channel, moment in session.connection().execute(
            _recent_statement(), {"contact_id": contact_id, "since": since})
        if category in _CATEGORIES and channel in _CHANNELS
    ]


@cache
def _recent_statement() -> Any:
    # The decision time (the run's clock) first; a row without one falls back to when it was
    # sent or claimed.
    at = func.coalesce(Delivery.decided_at, Delivery.sent_at, Delivery.created_at)
    return (
        select(col(Delivery.category), col(Delivery.channel), at)
        .where(col(Delivery.contact_id) == bindparam("contact_id"))
        # Messages to users (a rep told about this contact) never reached the contact.
        .where(col(Delivery.to_user_id).is_(None))
        .where(col(Delivery.state).in_([s.value for s in COUNTED_STATES]))
        .where(at > bindparam("since"))
        .order_by(at)
    )


def contact_country(contact: ContactFields) -> str | None:
    """ISO 3166 alpha-2: the ``country`` attribute, else the phone number's region."""
    country = (contact.attributes or {}).get("country")
    if isinstance(country, str) and country.strip():
        return country.strip().upper()
    if contact.phone:
        return _phone_country(contact.phone)
    return None


@lru_cache(maxsize=4096)
def _phone_country(phone: str) -> str | None:
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None
    # "001" is a non-geographic number (e.g. satellite): no country, no holidays.
    return region if region and region.isalpha() else None


def contact_holidays(contact: ContactFields, now: datetime) -> list[date]:
    """Public holidays in the contact's country on local dates from now-1 day to now+30 days."""
    country = contact_country(contact)
    if country is None:
        return []
    try:
        zone = ZoneInfo(contact.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # as the policy does: a bad zone must not block delivery
    first = (now - timedelta(days=1)).astimezone(zone).date()
    last = (now + HOLIDAY_HORIZON).astimezone(zone).date()
    return [day for day in _holidays(country, first.year, last.year) if first <= day <= last]


@lru_cache(maxsize=256)
def _holidays(country: str, first_year: int, last_year: int) -> tuple[date, ...]:
    """Public holidays of a country, built once per (country, years): building the calendar
    was about 1 ms of every decision (bench/RESULTS.md, policy overhead)."""
    try:
        calendar = holidays.country_holidays(country, years=range(first_year, last_year + 1))
    except NotImplementedError:  # a country the holidays package does not know
        return ()
    return tuple(sorted(calendar))
