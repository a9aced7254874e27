"""A rep's SMS answer to a reminder, through the real signed Twilio webhook: it acts on the
task of the last reminder sent to that rep, and never reaches a customer's runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from twilio.request_validator import RequestValidator

from followthrough.store import ledger, users
from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.task_stand_in import add_task, start_task, task_workflows, unique_task_id
from tests.support.waiting import eventually

REP_PHONE = "+15555550777"
_sids = iter(range(10**6))


@pytest.fixture
async def queue(live: LiveStack) -> AsyncIterator[str]:
    async with task_workflows(live.temporal) as name:
        yield name


def _rep(engine: Engine, locale: str = "en", phone: str = REP_PHONE) -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Rita Rep", email="rita@example.test", role="rep")
        user.phone, user.locale = phone, locale
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


async def _reminded(live: LiveStack, queue: str, user_id: int, title: str, sent_at: datetime) -> int:
    """A task whose reminder reached the rep, as the task workflow leaves it in the ledger."""
    task_id = add_task(live.engine, owner_id=user_id, title=title, task_id=unique_task_id(),
                       due_at=sent_at + timedelta(minutes=15))
    await start_task(live.temporal, queue, task_id)
    with session_scope(live.engine) as session:
        ledger.create(session, key=f"task-{task_id}:remind:1", run_id=f"task-{task_id}", step_id="remind",
                      channel="sms", category="service", template="task_reminder", state="sent",
                      to_user_id=user_id, to_address=REP_PHONE, sent_at=sent_at)
    return task_id


async def _text(live: LiveStack, body: str, sender: str = REP_PHONE) -> str:
    path = "/v1/webhooks/twilio/sms"
    params = {"From": sender, "To": "+15550000000", "Body": body, "MessageSid": f"SM{next(_sids):032d}"}
    signature = RequestValidator(live.settings.twilio_auth_token).compute_signature(
        live.settings.public_base_url + path, params)
    response = await live.api.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return response.text


async def _calls(live: LiveStack, task_id: int) -> list[list]:
    return await live.temporal.get_workflow_handle(f"task-{task_id}").query("history")


NOW = datetime.now(UTC)


class TestCommands:
    @pytest.mark.parametrize(("body", "locale", "call", "answer"), [
        ("1", "en", ["complete", {"outcome": "done", "note": "via sms"}], "Done: Call Anna Petrova. Well done!"),
        ("2", "en", ["snooze", {"duration": "PT3600S"}], "Snoozed for an hour: Call Anna Petrova."),
        ("Готово!", "ru", ["complete", {"outcome": "done", "note": "via sms"}], "Готово: Call Anna Petrova."),
        ("отложить", "ru", ["snooze", {"duration": "PT3600S"}], "Отложено на час: Call Anna Petrova."),
        ("Kész", "hu", ["complete", {"outcome": "done", "note": "via sms"}], "Kész: Call Anna Petrova."),
        ("később", "hu", ["snooze", {"duration": "PT3600S"}], "Egy órával elhalasztva: Call Anna Petrova."),
    ])
    async def test_the_command_acts_on_the_task_and_is_confirmed_in_the_reps_language(
        self, live: LiveStack, queue: str, body: str, locale: str, call: list, answer: str,
    ) -> None:
        rep = _rep(live.engine, locale)
        task_id = await _reminded(live, queue, rep, "Call Anna Petrova", NOW)
        twiml = await _text(live, body)
        assert f"<Message>{answer}" in twiml
        assert await _calls(live, task_id) == [call]
        with session_scope(live.engine) as session:
            rows = session.exec(select(InboundMessage)).all()
        assert [(r.body, r.user_id, r.contact_id, r.matched) for r in rows] == [(body, rep, None, False)]

    async def test_the_answer_goes_to_the_task_of_the_last_reminder(self, live: LiveStack, queue: str) -> None:
        rep = _rep(live.engine)
        newer = await _reminded(live, queue, rep, "Send the quote", NOW)
        older = await _reminded(live, queue, rep, "Call Anna Petrova", NOW - timedelta(hours=2))
        assert "Done: Send the quote." in await _text(live, "1")
        assert (await _calls(live, newer), await _calls(live, older)) == (
            [["complete", {"outcome": "done", "note": "via sms"}]], [])

    async def test_a_closed_task_is_answered_and_not_acted_on_again(self, live: LiveStack, queue: str) -> None:
        rep = _rep(live.engine)
        task_id = await _reminded(live, queue, rep, "Call Anna Petrova", NOW)
        await _text(live, "1")
        assert "Nothing changed: Call Anna Petrova is already closed." in await _text(live, "2")
        assert await _calls(live, task_id) == [["complete", {"outcome": "done", "note": "via sms"}]]

    async def test_other_text_gets_the_help_answer_and_changes_nothing(self, live: LiveStack, queue: str) -> None:
        rep = _rep(live.engine, "ru")
        task_id = await _reminded(live, queue, rep, "Call Anna Petrova", NOW)
        twiml = await _text(live, "а кто это?")
        assert "пришлите 1 (или ГОТОВО)" in twiml
        assert await _calls(live, task_id) == []

    async def test_help_from_a_rep_lists_the_reminder_commands(self, live: LiveStack, queue: str) -> None:
        rep = _rep(live.engine)
        task_id = await _reminded(live, queue, rep, "Call Anna Petrova", NOW)
        assert "reply 1 (or DONE) when it is done, 2 (or LATER)" in await _text(live, "HELP")
        assert await _calls(live, task_id) == []

    async def test_without_a_reminder_the_rep_is_told_so(self, live: LiveStack) -> None:
        _rep(live.engine)
        assert "There is no reminder to answer right now." in await _text(live, "1")


class TestNeverACustomerReply:
    async def test_a_rep_sharing_a_number_with_a_contact_does_not_reach_the_contacts_runs(
        self, live: LiveStack, queue: str,
    ) -> None:
        await save_definition(live.api, welcome_definition("rep_shared_phone", wait="PT1H"))
        contact = await create_contact(live.api, email="shared@example.test", phone=REP_PHONE)
        run = (await enroll(live.api, "rep_shared_phone", contact["id"])).json()
        await eventually(lambda: _has_steps(live, run["run_id"], 2))
        rep = _rep(live.engine)
        task_id = await _reminded(live, queue, rep, "Call Anna Petrova", NOW)
        await _text(live, "1")
        await _text(live, "thanks, call you back")  # any text at all: help, never a reply
        assert await _calls(live, task_id) == [["complete", {"outcome": "done", "note": "via sms"}]]
        # The welcome sequence stops on a reply: it is still running, and nothing reached it.
        assert (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["status"] == "running"
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [e["kind"] for e in timeline if e["direction"] == "inbound"] == []

    async def test_the_contacts_own_reply_still_reaches_their_run(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("rep_control", wait="PT1H"))
        contact = await create_contact(live.api, email="control@example.test", phone="+15555550778")
        run = (await enroll(live.api, "rep_control", contact["id"])).json()
        await eventually(lambda: _has_steps(live, run["run_id"], 2))
        _rep(live.engine)
        await _text(live, "1", sender="+15555550778")

        async def stopped() -> bool:
            return (await live.api.get(f"/v1/runs/{run['run_id']}")).json()["status"] == "stopped"

        await eventually(stopped)


async def _has_steps(live: LiveStack, run_id: str, count: int) -> bool:
    return len((await live.api.get(f"/v1/runs/{run_id}")).json()["steps"]) >= count
