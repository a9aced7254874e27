"""Signed tokens for links in messages (unsubscribe pages, one-click actions): one key list,
one rotation rule. Each kind of link signs with its own salt, so a token of one kind is never
accepted as another."""

from __future__ import annotations

from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from followthrough.settings import Settings


def _keys(settings: Settings) -> list[str]:
    # itsdangerous takes keys oldest first and signs with the last; FT_SECRET_KEY lists the
    # newest first. Every key verifies, so links in messages sent before a rotation keep working.
    return list(reversed(settings.signing_keys))


def serializer(settings: Settings, salt: str) -> URLSafeSerializer:
    """Signed, without a time: a link that must keep working (unsubscribe)."""
    return URLSafeSerializer(_keys(settings), salt=salt)


def timed_serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    """Signed with the time of signing: the reader decides how old a token may be."""
    return URLSafeTimedSerializer(_keys(settings), salt=salt)
