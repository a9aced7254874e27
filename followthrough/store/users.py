"""Users (admins, managers, reps) and their role-bound API keys, stored hashed."""

from __future__ import annotations

import hashlib
import secrets

from sqlmodel import Session, col, select

from followthrough.dsl.schema import MAX_USER_ID
from followthrough.models.contact import ContactSnapshot
from followthrough.policy.people_policy import UserRecipient
from followthrough.store.tables import User


def hash_key(api_key: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "ft_" + secrets.token_urlsafe(32)


def create(session: Session, *, name: str, email: str | None, role: str) -> tuple[User, str]:
    """Create a user; returns the user and its API key, which is shown once and never stored."""
    api_key = new_api_key()
    user = User(name=name, email=email, role=role, api_key_hash=hash_key(api_key))
    session.add(user)
    session.flush()
    return user, api_key


def by_api_key(session: Session, api_key: str) -> User | None:
    return session.exec(select(User).where(User.api_key_hash == hash_key(api_key))).first()


def recipient(session: Session, user_id: int) -> UserRecipient | None:
    """The user a message to ``user_id`` goes to, or None when there is no such user."""
    if not 1 <= user_id <= MAX_USER_ID:  # not an id the database can hold: no such user
        return None
    user = session.get(User, user_id)
    if user is None or user.id is None:
        return None
    return UserRecipient(id=user.id, email=user.email)


def find_by_phone(session: Session, phone: str) -> User | None:
    """The user whose phone (E.164) sent an SMS: a rep answering a reminder. Inbound SMS is
    matched to users before contacts."""
    if not phone:
        return None
    return session.exec(select(User).where(User.phone == phone).order_by(col(User.id))).first()


def reader_snapshot(session: Session, user_id: int | None) -> ContactSnapshot:
    """What renders a message to a user about no contact: the user's name, language and zone
    (an unknown user: the defaults; the people policy then skips the message)."""
    user = session.get(User, user_id) if user_id is not None and 1 <= user_id <= MAX_USER_ID else None
    if user is None:
        return ContactSnapshot()
    return ContactSnapshot(id=None, name=user.name, email=user.email, phone=user.phone,
                           locale=user.locale, time_zone=user.time_zone)


def every(session: Session) -> list[User]:
    """Every user, oldest first (the daily brief keeps one Schedule per active user)."""
    return list(session.exec(select(User).order_by(col(User.id))))
