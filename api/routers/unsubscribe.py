"""The signed preference page behind ``List-Unsubscribe`` (RFC 8058 one-click). No API key:
the signed token is the authorisation, and it names exactly one contact, channel and category."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Header
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api import pages
from api.deps import SessionDep, SettingsDep
from followthrough.errors import FieldError, FollowthroughError
from followthrough.models.vocab import Category, Channel
from followthrough.rendering import salutation
from followthrough.settings import Settings
from followthrough.store import contacts, preferences
from followthrough.unsubscribe import BadUnsubscribeToken, read_token

router = APIRouter(tags=["unsubscribe"])

#: What "unsubscribe from everything" covers: transactional mail (receipts, password resets)
#: is not a subscription, so it stays on.
OPTIONAL = [c for c in Category if c != Category.TRANSACTIONAL]


class MissingUnsubscribeChoice(FollowthroughError):
    code = "unsubscribe_choice_missing"


_INVALID = {404: {"description": "The link is not valid: a page in the visitor's language",
                  "content": {"text/html": {"schema": {"type": "string"}}}}}


def _invalid_link(settings: Settings, accept_language: str) -> HTMLResponse:
    """A link we did not sign (cut short by a mail client, mistyped) is a page a person can
    read, in the language the browser asks for: there is no contact to take it from."""
    return pages.render(settings, "invalid_link", pages.visitor_locale(settings, accept_language), 404)


def _page(
    settings: Settings, session: Session, token: str, done: str | None = None
) -> HTMLResponse:
    contact_id, channel, category = read_token(settings, token)
    contact = contacts.get(session, contact_id)
    consent = preferences.get(session, contact_id).consent[channel]
    return pages.render(
        settings, "preferences", contact.locale,
        name=salutation(contacts.snapshot(contact).model_dump()),
        channel=str(channel),
        category=str(category),
        subscribed={str(c): consent[c] for c in OPTIONAL},
        action=f"/u/{token}",
        done=done,
    )


@router.get("/u/{token}", response_class=HTMLResponse, responses=_INVALID)  # type: ignore[arg-type]
def preference_page(
    token: str, session: SessionDep, settings: SettingsDep,
    accept_language: Annotated[str, Header()] = "",
) -> HTMLResponse:
    """What the contact is subscribed to, with buttons to leave this category or all.

    A GET never changes anything: mail scanners and link previews follow every link.
    """
    try:
        return _page(settings, session, token)
    except BadUnsubscribeToken:
        return _invalid_link(settings, accept_language)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(
    token: str,
    session: SessionDep,
    settings: SettingsDep,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
    scope: Annotated[Literal["category", "all", "resubscribe"] | None, Form()] = None,
) -> HTMLResponse:
    """RFC 8058 one-click (``List-Unsubscribe=One-Click``) or the page's form (``scope``).

    ``resubscribe`` grants the token's category back: the page is the contact's own voice, so
    it may undo what the contact withdrew, which staff cannot (409 ``revoked_by_contact``)."""
    contact_id, channel, category = read_token(settings, token)
    if scope is None and one_click != "One-Click":
        raise MissingUnsubscribeChoice(
            "Send List-Unsubscribe=One-Click (RFC 8058) or scope=category|all.",
            errors=[FieldError("/scope", "missing")],
        )
    if scope == "resubscribe":
        preferences.grant(session, contact_id, Channel(channel), [category], source="unsubscribe")
        return _page(settings, session, token, done=scope)
    categories = OPTIONAL if scope == "all" else [category]
    preferences.revoke(session, contact_id, Channel(channel), categories, source="unsubscribe")
    return _page(settings, session, token, done=scope or "category")
