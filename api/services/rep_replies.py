"""A rep's SMS answer to a task reminder (inbound SMS from a user's phone).

It acts on the task of the last reminder sent to that rep (the delivery ledger knows which), and
is answered in the webhook's TwiML, in the rep's language: what was done, or the commands when
the text was none. It never reaches a customer's runs, even when a contact shares the number.
Twilio retries a webhook whose answer was lost: the message is stored after acting, so a retry
after a failure (Temporal down) acts then; one after success finds it stored and does nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine

from api.services.task_actions import TaskAction, act_on_task, task_of_run
from followthrough.action_links import SubjectRejected
from followthrough.logging import get_logger
from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.rendering import Renderer, TemplateError
from followthrough.rep_replies import RepCommand, RepReplyKind, RepReplyRoute, route_rep_reply
from followthrough.store import inbound, ledger, tasks
from followthrough.store.db import read_scope, session_scope
from followthrough.store.tables import InboundMessage, User

log = get_logger("inbound")

_ACTIONS = {RepCommand.DONE: TaskAction.DONE, RepCommand.SNOOZE: TaskAction.SNOOZE}
#: The ledger run ids of a task's messages start so (``task-<id>``, api/services/task_actions.py).
TASK_RUN_PREFIX = "task-"


def _provider_id(form: dict[str, str]) -> str | None:
    return form.get("MessageSid") or form.get("SmsSid")


def _seen(engine: Engine, form: dict[str, str]) -> bool:
    provider_id = _provider_id(form)
    if not provider_id:
        return False
    with read_scope(engine) as session:
        return inbound.find(session, provider_id) is not None


def _route(engine: Engine, user_id: int, body: str) -> tuple[RepReplyRoute, str]:
    """The route, and the task's title for the answer."""
    with read_scope(engine) as session:
        last = ledger.latest_sent_to_user(session, user_id, TASK_RUN_PREFIX)
        route = route_rep_reply(body, task_of_run(last.run_id) if last else None)
        task = tasks.find(session, route.task_id) if route.task_id is not None else None
        return route, task.title if task else ""


def _store(engine: Engine, form: dict[str, str], user_id: int) -> InboundMessage:
    with session_scope(engine) as session:
        row, _ = inbound.store(
            session, channel=Channel.SMS, provider_id=_provider_id(form),
            from_address=form.get("From", ""), to_address=form.get("To"), body=form.get("Body", ""),
            contact_id=None, matched=False, user_id=user_id, raw=form,
        )
        return row


def _answer(renderer: Renderer | None, user: User, result: str, title: str) -> str | None:
    if renderer is None:
        return None
    reader = ContactSnapshot(name=user.name, phone=user.phone, locale=user.locale, time_zone=user.time_zone)
    try:
        return renderer.render(Channel.SMS, "rep_reply", reader, {"result": result, "task": title}).text
    except TemplateError as exc:  # the action stands; only its confirmation is lost
        log.error("rep reply not rendered", error=str(exc))
        return None


async def handle_rep_sms(engine: Engine, client_factory: Any, form: dict[str, str], user: User,
                         renderer: Renderer | None) -> tuple[int | None, str | None]:
    """Act on a rep's answer; returns (the inbound message id, the TwiML answer's text)."""
    if user.id is None:
        raise ValueError("an unsaved user")
    if await asyncio.to_thread(_seen, engine, form):
        return None, None  # Twilio retried after our answer was lost: acted already
    route, title = await asyncio.to_thread(_route, engine, user.id, form.get("Body", ""))
    result = route.kind.value
    if route.kind is RepReplyKind.ACT and route.command is not None and route.task_id is not None:
        try:
            result = await act_on_task(engine, await client_factory(), route.task_id, _ACTIONS[route.command], "sms")
        except SubjectRejected as exc:
            log.info("rep reply refused", task_id=route.task_id, reason=str(exc))
            result = "rejected"
    row = await asyncio.to_thread(_store, engine, form, user.id)
    text = await asyncio.to_thread(_answer, renderer, user, result, title)
    return row.id, text
