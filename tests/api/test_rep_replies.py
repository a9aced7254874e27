"""A rep's SMS answer to a reminder, through the real signed Twilio webhook: it acts on the
task of the last reminder sent to that rep, and never reaches a customer's runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select
from twilio.request_validator import RequestValidator

from followthrough.models.tasks import TaskResult, TaskView
from followthrough.store import ledger, users
from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.tasks import new_task, task_row
from tests.support.waiting import eventually

REP_PHONE = "+15555550777"
_sids = iter(range(10**6))


def _rep(engine: Engine, locale: str = "en", phone: str = REP_PHONE) -> int:
    with session_scope(engine) as session:
        user, _ = users.create(session, name="Rita Rep", email="rita@example.test", role="rep")
        user.phone, user.locale = phone, locale
        session.add(user)
        session.flush()
        assert user.id is not None
        return user.id


async def _reminded(live: LiveStack, user_id: int, title: str, sent_at: datetime) -> int:
    """A task (its real workflow running) whose reminder reached the rep, as the task workflow
    leaves it in the ledger. Due in two days, so the workflow itself sends nothing meanwhile."""
    task = await new_task(live.engine, live.temporal, live.settings, datetime.now(UTC),
                          datetime.now(UTC) + timedelta(days=2), owner_id=user_id, title=title)
    task_id = task.id
    assert task_id is not None
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


def _row(live: LiveStack, task_id: int) -> tuple[str, str | None, str | None, bool]:
    return task_row(live.engine, task_id)


UNTOUCHED = ("open", None, None, False)
DONE = ("done", "done", "via sms", False)
SNOOZED = ("snoozed", None, None, True)


NOW = datetime.now(UTC)


class TestCommands:
    @pytest.mark.parametrize(("body", "locale", "row", "answer"), [
        ("1", "en", DONE, "Done: Call Anna Petrova. Well done!"),
        ("2", "en", SNOOZED, "Snoozed for an hour: Call Anna Petrova."),
        ("Готово!", "ru", DONE, "Готово: Call Anna Petrova."),
        ("отложить", "ru", SNOOZED, "Отложено на час: Call Anna Petrova."),
        ("Kész", "hu", DONE, "Kész: Call Anna Petrova."),
        ("később", "hu", SNOOZED, "Egy órával elhalasztva: Call Anna Petrova."),
    ])
    async def test_the_command_acts_on_the_task_and_is_confirmed_in_the_reps_language(
        self, live: LiveStack, body: str, locale: str, row: tuple, answer: str,
    ) -> None:
        rep = _rep(live.engine, locale)
        task_id = await _reminded(live, rep, "Call Anna Petrova", NOW)
        twiml = await _text(live, body)
        assert f"<Message>{answer}" in twiml
        assert _row(live, task_id) == row
        with session_scope(live.engine) as session:
            rows = session.exec(select(InboundMessage)).all()
        assert [(r.body, r.user_id, r.contact_id, r.matched) for r in rows] == [(body, rep, None, False)]

    async def test_the_answer_goes_to_the_task_of_the_last_reminder(self, live: LiveStack) -> None:
        rep = _rep(live.engine)
        newer = await _reminded(live, rep, "Send the quote", NOW)
        older = await _reminded(live, rep, "Call Anna Petrova", NOW - timedelta(hours=2))
        assert "Done: Send the quote." in await _text(live, "1")
        assert (_row(live, newer), _row(live, older)) == (DONE, UNTOUCHED)

    async def test_a_closed_task_is_answered_and_not_acted_on_again(self, live: LiveStack) -> None:
        rep = _rep(live.engine)
        task_id = await _reminded(live, rep, "Call Anna Petrova", NOW)
        await _text(live, "1")
        assert "Nothing changed: Call Anna Petrova is already closed." in await _text(live, "2")
        assert _row(live, task_id) == DONE

    async def test_other_text_gets_the_help_answer_and_changes_nothing(self, live: LiveStack) -> None:
        rep = _rep(live.engine, "ru")
        task_id = await _reminded(live, rep, "Call Anna Petrova", NOW)
        twiml = await _text(live, "а кто это?")
        assert "пришлите 1 (или ГОТОВО)" in twiml
        assert _row(live, task_id) == UNTOUCHED

    async def test_help_from_a_rep_lists_the_reminder_commands(self, live: LiveStack) -> None:
        rep = _rep(live.engine)
        task_id = await _reminded(live, rep, "Call Anna Petrova", NOW)
        assert "reply 1 (or DONE) when it is done, 2 (or LATER)" in await _text(live, "HELP")
        assert _row(live, task_id) == UNTOUCHED

    async def test_without_a_reminder_the_rep_is_told_so(self, live: LiveStack) -> None:
        _rep(live.engine)
        assert "There is no reminder to answer right now." in await _text(live, "1")


class TestFromARealReminder:
    async def test_the_reminder_goes_by_sms_and_2_then_1_snooze_and_complete_its_task(
        self, live: LiveStack,
    ) -> None:
        rep = _rep(live.engine)
        with session_scope(live.engine) as session:
            user = users.get(session, rep)
            user.notify_channels = ["sms"]
            session.add(user)
        now = datetime.now(UTC)
        # Reminded a second from now (due in 15 minutes and a second, the default lead time).
        task = await new_task(live.engine, live.temporal, live.settings, now,
                              now + timedelta(minutes=15, seconds=1), owner_id=rep, title="Call Anna Petrova")

        async def reminded() -> list:  # type: ignore[type-arg]
            return live.outbox.store.list(channel="sms", to=REP_PHONE, limit=None)

        [sms] = await eventually(reminded)
        assert sms.text.startswith("Call Anna Petrova at ") and sms.text.endswith("Reply 1 = done, 2 = snooze.")

        async def recorded() -> list:  # type: ignore[type-arg]
            # The provider has the message before the attempt records its outcome: wait for it.
            with session_scope(live.engine) as session:
                rows = ledger.list_page(session, run_id=task.workflow_id)
            return rows if rows and rows[0].state == "sent" else []

        [row] = await eventually(recorded)
        assert (row.key, row.channel, row.state, row.to_user_id) == (f"task-{task.id}:remind:1", "sms", "sent", rep)

        assert "<Message>Snoozed for an hour: Call Anna Petrova." in await _text(live, "2")
        assert _row(live, task.id) == SNOOZED  # type: ignore[arg-type]
        view = await live.temporal.get_workflow_handle(task.workflow_id).query("view", result_type=TaskView)
        assert (view.state, view.snoozed_until is not None) == ("snoozed", True)
        assert "<Message>Done: Call Anna Petrova. Well done!" in await _text(live, "1")
        assert _row(live, task.id)[:3] == DONE[:3]  # type: ignore[arg-type]
        result = await live.temporal.get_workflow_handle(task.workflow_id, result_type=TaskResult).result()
        assert (result.state, result.outcome) == ("done", "done")


class TestNeverACustomerReply:
    async def test_a_rep_sharing_a_number_with_a_contact_does_not_reach_the_contacts_runs(
        self, live: LiveStack,
    ) -> None:
        await save_definition(live.api, welcome_definition("rep_shared_phone", wait="PT1H"))
        contact = await create_contact(live.api, email="shared@example.test", phone=REP_PHONE)
        run = (await enroll(live.api, "rep_shared_phone", contact["id"])).json()
        await eventually(lambda: _has_steps(live, run["run_id"], 2))
        rep = _rep(live.engine)
        task_id = await _reminded(live, rep, "Call Anna Petrova", NOW)
        await _text(live, "1")
        await _text(live, "thanks, call you back")  # any text at all: help, never a reply
        assert _row(live, task_id) == DONE
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
