"""/v1/tickets on the real dev server: open, read with the conversation and the clocks, answer
(threaded email), internal notes, changes refused with a 409 naming the status, bad input named
by field, and who sees which ticket (another team's is a 404)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from followthrough.store.db import session_scope
from followthrough.store.tables import Contact
from followthrough.tickets import service
from tests.api.test_tasks import _as, _rep
from tests.conftest import LiveStack
from tests.support.factories import create_contact
from tests.support.tickets import publish_policy, support_team


async def _emails(live: LiveStack, address: str, count: int) -> list:  # type: ignore[type-arg]
    for _ in range(100):
        found = list(reversed(live.outbox.store.list(channel="email", to=address, limit=None)))
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} emails to {address} expected, found {len(found)}")


async def _setup(live: LiveStack) -> tuple[int, str, int, str, int]:
    """(agent of support, their key, agent of billing, their key, the customer)."""
    agent, agent_key = await _rep(live, "Adam")
    other, other_key = await _rep(live, "Olga")
    head, _ = await _rep(live, "Helga")
    support_team(live.engine, [agent], None, name="support")
    support_team(live.engine, [other], None, name="billing")
    publish_policy(live.engine, head)
    customer = (await create_contact(live.api, email="kata@example.test", locale="hu",
                                     time_zone="Europe/Budapest"))["id"]
    with session_scope(live.engine) as session:
        row = session.get(Contact, customer)
        row.owner_id = agent  # type: ignore[union-attr]
        session.add(row)
    return agent, agent_key, other, other_key, customer


class TestTickets:
    async def test_open_read_answer_threaded_and_another_teams_agent_gets_a_404(self, live: LiveStack) -> None:
        agent, agent_key, _other, other_key, customer = await _setup(live)
        ticket, created = await service.open_ticket(
            live.engine, live.temporal, contact_id=customer, channel="email", subject="Panasz",
            text="Panaszt szeretnék tenni: a csomag üres volt.", source_message_id="<q1@kata.example.test>",
            settings=live.settings)
        again, created_again = await service.open_ticket(
            live.engine, live.temporal, contact_id=customer, channel="email", subject="Panasz",
            text="Panaszt szeretnék tenni: a csomag üres volt.", source_message_id="<q1@kata.example.test>",
            settings=live.settings)
        assert (created, created_again, again.id) == (True, False, ticket.id)
        [ack] = await _emails(live, "kata@example.test", 1)
        assert ack.subject == f"Megkaptuk a bejelentését: #{ticket.id}"
        assert ack.headers.get("In-Reply-To") == "<q1@kata.example.test>"

        url = f"/v1/tickets/{ticket.id}"
        assert (await live.api.get(url, headers=_as(other_key))).status_code == 404
        refused = await live.api.post(f"{url}/responses", json={"text": "x"}, headers=_as(other_key))
        assert refused.status_code == 404
        assert (await live.api.get("/v1/tickets", headers=_as(other_key))).json()["items"] == []

        seen = await live.api.get(url, headers=_as(agent_key))
        assert seen.status_code == 200, seen.text
        body = seen.json()
        assert (body["status"], body["priority"], body["category"], body["team"], body["assignee_id"]) == (
            "new", "high", "complaint", "support", agent)
        assert [m["direction"] for m in body["messages"]] == ["in"]
        assert {e["kind"] for e in body["events"]} >= {"classification", "assignment"}
        assert 0 < body["clocks"]["first_response"]["time_left_seconds"] <= 7200

        note = await live.api.post(f"{url}/responses", json={"text": "Called the courier.", "internal": True},
                                   headers=_as(agent_key))
        assert note.status_code == 201, note.text
        answered = await live.api.post(f"{url}/responses", json={"text": "Elnézést, újraküldjük a csomagot.",
                                                                 "status": "waiting_on_customer"},
                                       headers=_as(agent_key))
        assert answered.status_code == 201, answered.text
        result = answered.json()
        assert result["status"] == "waiting_on_customer" and result["first_response_at"] is not None
        assert result["clocks"]["first_response"]["due_at"] is None  # stopped
        assert [m["direction"] for m in result["messages"]] == ["in", "note", "out"]
        _ack, reply = await _emails(live, "kata@example.test", 2)
        assert reply.subject == f"Re: Panasz [#{ticket.id}]"
        assert reply.text.startswith("Elnézést, újraküldjük a csomagot.")
        assert reply.headers.get("In-Reply-To") == "<q1@kata.example.test>"
        assert "Called the courier." not in reply.text

    async def test_changes_refused_by_the_status_are_a_409_and_bad_input_names_the_field(
            self, live: LiveStack) -> None:
        _agent, agent_key, _other, _other_key, customer = await _setup(live)
        opened = await live.api.post("/v1/tickets", json={"contact_id": customer, "subject": "Kérdés",
                                                          "text": "Hol a számlám?"})
        assert opened.status_code == 201, opened.text
        ticket = opened.json()
        assert (ticket["channel"], ticket["priority"], ticket["category"]) == ("api", "normal", "general")
        url = f"/v1/tickets/{ticket['id']}"
        reopen = await live.api.post(f"{url}/reopen", json={})
        assert reopen.status_code == 409 and "is new; reopen is not allowed" in reopen.json()["detail"]
        bad = await live.api.post(f"{url}/priority", json={"priority": "critical"})
        assert bad.status_code == 422 and "/priority" in bad.text
        missing = await live.api.post("/v1/tickets", json={"contact_id": 999999, "text": "x"})
        assert missing.status_code == 422 and "/contact_id" in missing.text
        resolved = await live.api.post(f"{url}/resolve", json={"note": "Elküldtük."}, headers=_as(agent_key))
        assert resolved.status_code == 200, resolved.text
        assert (resolved.json()["status"], resolved.json()["resolution_note"]) == ("resolved", "Elküldtük.")
        again = await live.api.post(f"{url}/resolve", json={"note": "again"})
        assert again.status_code == 409 and "is resolved" in again.json()["detail"]

    async def test_a_survey_link_in_the_email_records_the_score(self, live: LiveStack) -> None:
        import re

        from followthrough.store import tickets as store

        _agent, agent_key, _other, _other_key, customer = await _setup(live)
        publish_policy(live.engine, 1, survey={"delay": "PT1S", "close_after": "P7D", "reopen_at_or_below": 2})
        ticket, _ = await service.open_ticket(live.engine, live.temporal, contact_id=customer, channel="email",
                                              subject="Kérdés", text="Hol a számlám?", settings=live.settings)
        resolved = await live.api.post(f"/v1/tickets/{ticket.id}/resolve", json={"note": "Elküldtük."},
                                       headers=_as(agent_key))
        assert resolved.status_code == 200, resolved.text
        *_rest, survey = await _emails(live, "kata@example.test", 3)
        assert survey.subject == f"Hogyan kezeltük a bejelentését (#{ticket.id})?"
        links = dict(re.findall(r"^([1-5]): (\S+)$", survey.text, re.M))
        assert sorted(links) == ["1", "2", "3", "4", "5"]
        path = links["5"].removeprefix(live.settings.public_base_url)
        answered = await live.api.post(path)
        assert answered.status_code == 200, answered.text
        with session_scope(live.engine) as session:
            row = store.get(session, ticket.id or 0)
            assert (row.status, row.csat) == ("resolved", 5)
        assert (await live.api.post(links["4"].removeprefix(live.settings.public_base_url))).status_code == 409

    async def test_saving_the_calendar_through_the_api_moves_the_running_clocks(self, live: LiveStack) -> None:
        _agent, _key, _other, _other_key, customer = await _setup(live)
        every_day = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        saved = await live.api.put("/v1/calendars/support_hours", json={"time_zone": "UTC", "week": every_day})
        assert saved.status_code in (200, 201), saved.text
        publish_policy(live.engine, 1, calendar="support_hours")
        opened = await live.api.post("/v1/tickets", json={"contact_id": customer, "text": "Hol a számlám?"})
        assert opened.status_code == 201, opened.text
        url = f"/v1/tickets/{opened.json()['id']}"
        before = (await live.api.get(url)).json()["clocks"]["first_response"]["due_at"]
        # One working hour a day from now on: 8 working hours take days.
        short = {d: [["10:00", "11:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        edited = await live.api.put("/v1/calendars/support_hours", json={"time_zone": "UTC", "week": short})
        assert edited.status_code == 200, edited.text
        for _ in range(50):
            after = (await live.api.get(url)).json()
            if after["clocks"]["first_response"]["due_at"] != before:
                break
            await asyncio.sleep(0.1)
        due = datetime.fromisoformat(after["clocks"]["first_response"]["due_at"])
        assert due > datetime.fromisoformat(before) + timedelta(days=5)
        assert (due.hour, due.minute) <= (11, 0) and due.hour >= 10
        assert [e["detail"]["change"] for e in after["events"] if e["kind"] == "clock"] == ["calendar"]
