"""One-click action links from messages (``/a/<token>``). No API key: the signed, single-use
token is the authorisation, and it names exactly one subject and one action.

GET never acts (mail scanners and link previews fetch every link): it shows what the link will
do, with the button that does it (POST). A forged, expired or used link gets a page saying so,
in its reader's language (a forged one: the browser's), and changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from api import pages
from api.deps import EngineDep, SettingsDep
from followthrough import action_links
from followthrough.action_links import (
    ActionHandler,
    ActionRegistry,
    LinkClaim,
    LinkProblem,
    LinkRefused,
    SubjectRejected,
)
from followthrough.settings import Settings
from followthrough.store import action_links as link_store
from followthrough.store.db import read_scope, session_scope

router = APIRouter(tags=["action links"])

_STATUS = {LinkProblem.INVALID: 404, LinkProblem.EXPIRED: 410, LinkProblem.USED: 410,
           LinkProblem.REJECTED: 409}
_PAGE = {"content": {"text/html": {"schema": {"type": "string"}}}}
_RESPONSES = {404: {"description": "Not a link we signed: a page in the browser's language", **_PAGE},
              409: {"description": "The subject refused the action (e.g. the task is done)", **_PAGE},
              410: {"description": "The link expired or was used: a page in its reader's language", **_PAGE}}


def _registry(request: Request) -> ActionRegistry:
    return request.app.state.action_registry


def _verify(engine: Engine, settings: Settings, token: str) -> LinkClaim:
    with read_scope(engine) as session:
        return action_links.verify(session, settings, token)


async def _open(request: Request, engine: Engine, settings: Settings, token: str) -> tuple[LinkClaim, ActionHandler]:
    """The verified link and its handler, or :class:`LinkRefused`."""
    claim = await asyncio.to_thread(_verify, engine, settings, token)
    return claim, _registry(request).handler(claim)


def _consume(engine: Engine, settings: Settings, token: str) -> LinkClaim:
    with session_scope(engine) as session:  # committed before acting: a second click finds it used
        claim = action_links.verify(session, settings, token)
        action_links.consume(session, claim)
        return claim


def _finish(engine: Engine, claim: LinkClaim, result: str | None) -> None:
    with session_scope(engine) as session:
        if result is None:  # acting failed before anything changed: the link works again
            link_store.release(session, claim.link_id)
        else:
            link_store.record_result(session, claim.link_id, result)


def _refused(settings: Settings, refused: LinkRefused, accept_language: str, detail: str = "") -> HTMLResponse:
    locale = refused.locale or pages.visitor_locale(settings, accept_language)
    return pages.render(settings, "action", locale, _STATUS[refused.problem], state=refused.problem.value,
                        action="", title="", details={}, form_action="", result=detail)


@router.get("/a/{token}", response_class=HTMLResponse, responses=_RESPONSES)  # type: ignore[arg-type]
async def action_page(
    token: str, request: Request, engine: EngineDep, settings: SettingsDep,
    accept_language: Annotated[str, Header()] = "",
) -> HTMLResponse:
    """What the link will do, with a button to do it; an ``open`` link shows its subject."""
    try:
        claim, handler = await _open(request, engine, settings, token)
        view = await handler.describe(claim.subject_id)
        if view is None:
            raise LinkRefused(LinkProblem.REJECTED, claim.locale)
    except LinkRefused as refused:
        return _refused(settings, refused, accept_language)
    state = "view" if claim.action in handler.views else "confirm"
    return pages.render(settings, "action", claim.locale, state=state, action=claim.action,
                        title=view.title, details=view.details, form_action=f"/a/{token}", result="")


@router.post("/a/{token}", response_class=HTMLResponse, responses={  # type: ignore[arg-type]
    **_RESPONSES, 503: {"description": "Temporal did not answer: nothing changed, the link works again"}})
async def act(
    token: str, request: Request, engine: EngineDep, settings: SettingsDep,
    accept_language: Annotated[str, Header()] = "",
) -> HTMLResponse:
    """Do what the link says, once; the page it answers with is the confirmation."""
    try:
        claim, handler = await _open(request, engine, settings, token)
        if claim.action not in handler.actions:  # a view link acts on nothing
            raise LinkRefused(LinkProblem.INVALID, claim.locale)
        claim = await asyncio.to_thread(_consume, engine, settings, token)
    except LinkRefused as refused:
        return _refused(settings, refused, accept_language)
    try:
        state = await handler.perform(claim.subject_id, claim.action)
    except SubjectRejected as rejected:
        await asyncio.to_thread(_finish, engine, claim, f"rejected: {rejected}")
        return _refused(settings, LinkRefused(LinkProblem.REJECTED, claim.locale), accept_language)
    except BaseException:
        await asyncio.to_thread(_finish, engine, claim, None)
        raise
    await asyncio.to_thread(_finish, engine, claim, state)
    view = await handler.describe(claim.subject_id)
    return pages.render(settings, "action", claim.locale, state="done", action=claim.action,
                        title=view.title if view else "", details=view.details if view else {},
                        form_action="", result=state)
