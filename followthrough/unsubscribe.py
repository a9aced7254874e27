"""Signed unsubscribe links and the email headers that carry them (RFC 2369, RFC 8058).

A token names one contact, channel and category, signed with the service's key: the page it
opens needs no login, and nobody can forge a link for another contact or category.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadData

from followthrough.errors import NotFound
from followthrough.models.vocab import Category, Channel
from followthrough.settings import Settings
from followthrough.signing import serializer

_SALT = "unsubscribe"  # a key used for other links cannot sign an unsubscribe token


class BadUnsubscribeToken(NotFound):
    """Tampered, truncated or foreign: answered as 404 (the link does not exist)."""

    code = "unsubscribe_link_invalid"


def make_token(settings: Settings, contact_id: int, channel: Channel, category: Category) -> str:
    """The signed token for one contact, channel and category (stable: no expiry, since an
    unsubscribe link in an old email must keep working)."""
    payload = {"c": contact_id, "k": str(Category(category)), "ch": str(Channel(channel))}
    token: str = serializer(settings, _SALT).dumps(payload)
    return token


def unsubscribe_url(
    settings: Settings, contact_id: int, channel: Channel, category: Category
) -> str:
    """The preference page / one-click endpoint: ``<public_base_url>/u/<token>``."""
    return f"{settings.public_base_url}/u/{make_token(settings, contact_id, channel, category)}"


def unsubscribe_headers(settings: Settings, contact_id: int, category: Category) -> dict[str, str]:
    """Headers for an email of ``category``. RFC 8058: with ``List-Unsubscribe-Post`` mailbox
    providers show an unsubscribe button that POSTs ``List-Unsubscribe=One-Click`` to the URL."""
    url = unsubscribe_url(settings, contact_id, Channel.EMAIL, category)
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def read_token(settings: Settings, token: str) -> tuple[int, Channel, Category]:
    """``(contact_id, channel, category)`` from a token; :class:`BadUnsubscribeToken` when the
    signature or the content is not ours."""
    try:
        payload: Any = serializer(settings, _SALT).loads(token)
    except BadData as exc:
        raise BadUnsubscribeToken("This unsubscribe link is not valid.") from exc
    try:
        contact_id, channel, category = payload["c"], payload["ch"], payload["k"]
        if not isinstance(contact_id, int) or isinstance(contact_id, bool):
            raise TypeError("contact id is not an integer")
        return contact_id, Channel(channel), Category(category)
    except (KeyError, TypeError, ValueError) as exc:
        # Signed by us but not a shape we issue (e.g. an old format): still not a valid link.
        raise BadUnsubscribeToken("This unsubscribe link is not valid.") from exc
