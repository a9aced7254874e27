"""Signed one-click action links (``done``, ``snooze``, ``open`` on ``task:42``), generic so that
any subject can offer them (a ticket's satisfaction survey later).

A link is ``<public_base_url>/a/<token>``. The token is signed with FT_SECRET_KEY (rotation as
for unsubscribe links, its own salt) and carries the time it was signed: older than
FT_ACTION_LINK_MAX_AGE it is refused. It names a row of ``action_links``, which is consumed
atomically by the one request that acts, so a link works once. Opening a link (GET) never acts:
mail scanners and link previews fetch every link in a message; the page it shows has the button
that acts (POST).

What an action does belongs to its subject's kind: a handler registered in an
:class:`ActionRegistry` (tasks register theirs at the API's composition root).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from itsdangerous import BadData
from sqlmodel import Session

from followthrough.settings import Settings
from followthrough.signing import timed_serializer
from followthrough.store import action_links

_SALT = "action-link"  # an unsubscribe token, or a token of any other kind, is not an action link


class LinkProblem(StrEnum):
    """Why a link does nothing; each has its own page."""

    INVALID = "invalid"  # not signed by us (forged, tampered, cut short by a mail client)
    EXPIRED = "expired"
    USED = "used"
    REJECTED = "rejected"  # the subject refused (the task is done already, or gone)


class LinkRefused(Exception):
    """The link is refused; ``locale`` is its reader's when the link is ours (None: forged)."""

    def __init__(self, problem: LinkProblem, locale: str | None = None, detail: str = "") -> None:
        super().__init__(detail or problem.value)
        self.problem = problem
        self.locale = locale


@dataclass(frozen=True)
class LinkClaim:
    """A verified link: its record, what it acts on, and its reader's language."""

    link_id: int
    kind: str
    subject_id: int
    action: str
    locale: str

    @property
    def subject(self) -> str:
        return subject_of(self.kind, self.subject_id)


def subject_of(kind: str, subject_id: int) -> str:
    return f"{kind}:{subject_id}"


def _parse_subject(subject: str) -> tuple[str, int]:
    kind, _, raw = subject.partition(":")
    if not kind or not raw.isdigit():
        raise ValueError(f"not a subject: {subject!r}")
    return kind, int(raw)


def issue(session: Session, settings: Settings, kind: str, subject_id: int, action: str,
          locale: str, now: datetime | None = None) -> str:
    """Record a link and return its URL. Call it where the message is prepared (an activity),
    once per link in the message."""
    now = now or datetime.now(UTC)
    row = action_links.create(session, subject=subject_of(kind, subject_id), action=action,
                              locale=locale, created_at=now,
                              expires_at=now + settings.action_link_max_age)
    token = timed_serializer(settings, _SALT).dumps({"l": row.id, "s": row.subject, "a": action})
    return f"{settings.public_base_url}/a/{token}"


def issue_all(session: Session, settings: Settings, kind: str, subject_id: int,
              actions: list[str], locale: str, now: datetime | None = None) -> dict[str, str]:
    """One link per action, by action: what a message template gets (``data.links.done``)."""
    return {a: issue(session, settings, kind, subject_id, a, locale, now) for a in actions}


def verify(session: Session, settings: Settings, token: str, now: datetime | None = None) -> LinkClaim:
    """The link a token names, if it is ours, young enough and unused; else :class:`LinkRefused`.
    Reads only: :func:`consume` is what uses it up."""
    now = now or datetime.now(UTC)
    try:
        payload: Any
        payload, signed_at = timed_serializer(settings, _SALT).loads(token, return_timestamp=True)
        link_id, subject, action = payload["l"], payload["s"], payload["a"]
        kind, subject_id = _parse_subject(subject)
        if not isinstance(link_id, int) or isinstance(link_id, bool):
            raise TypeError("link id is not an integer")
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise LinkRefused(LinkProblem.INVALID, detail=str(exc)) from exc
    row = action_links.get(session, link_id)
    if row is None or row.subject != subject or row.action != action:
        raise LinkRefused(LinkProblem.INVALID, detail="no such link")
    if now - signed_at > settings.action_link_max_age:
        raise LinkRefused(LinkProblem.EXPIRED, row.locale)
    if row.used_at is not None:
        raise LinkRefused(LinkProblem.USED, row.locale)
    return LinkClaim(link_id=link_id, kind=kind, subject_id=subject_id, action=action,
                     locale=row.locale)


def consume(session: Session, claim: LinkClaim, now: datetime | None = None) -> None:
    """Use the link up, or :class:`LinkRefused` ``used`` when another request got there first."""
    if not action_links.consume(session, claim.link_id, now or datetime.now(UTC)):
        raise LinkRefused(LinkProblem.USED, claim.locale)


# -- what actions do -----------------------------------------------------------------------


@dataclass(frozen=True)
class ActionView:
    """What the confirmation page shows about the subject (``title``: "Call Anna Petrova")."""

    title: str
    details: dict[str, str] = field(default_factory=dict)


class SubjectRejected(Exception):
    """The subject refuses the action now (a task already done, cancelled or gone)."""


class ActionHandler(Protocol):
    """The actions of one kind of subject. ``perform`` returns the subject's new state and raises
    :class:`SubjectRejected` when the action is not allowed now (nothing changed); any other
    error means nothing is known to have changed and the link stays usable."""

    kind: str
    #: Actions that change state: shown as a confirmation page, done by its POST.
    actions: frozenset[str]
    #: Actions that only show (``open``): the page is the action, the link is not used up.
    views: frozenset[str]

    async def describe(self, subject_id: int) -> ActionView | None: ...

    async def perform(self, subject_id: int, action: str) -> str: ...


class ActionRegistry:
    """Handlers by subject kind. Built once at the composition root (``create_app``)."""

    def __init__(self) -> None:
        self._handlers: dict[str, ActionHandler] = {}

    def register(self, handler: ActionHandler) -> None:
        self._handlers[handler.kind] = handler

    def handler(self, claim: LinkClaim) -> ActionHandler:
        """The claim's handler; a link whose kind or action nobody handles is ``invalid``."""
        handler = self._handlers.get(claim.kind)
        if handler is None or claim.action not in handler.actions | handler.views:
            raise LinkRefused(LinkProblem.INVALID, claim.locale, f"no handler for {claim.subject} {claim.action}")
        return handler
