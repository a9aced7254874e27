"""Inbound email webhook on the real dev server: thread matching, auto-replies, unknown senders,
dedupe, and fan-out to every active run of the contact."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.app import create_app
from tests.conftest import ADMIN_KEY, LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition
from tests.support.waiting import eventually

PATH = "/v1/webhooks/email/inbound"


def passing(domain: str) -> dict[str, str]:
    """The header our receiving relay adds when the sender's DKIM signature checks out."""
    return {"Authentication-Results": f"mx.followthrough.test; dkim=pass header.d={domain}"}


async def _sent_email(live: LiveStack, run_id: str) -> dict[str, Any]:
    async def sent() -> list[dict[str, Any]]:
        items = (await live.api.get("/v1/deliveries", params={"run_id": run_id})).json()["items"]
        return [d for d in items if d["channel"] == "email" and d["state"] == "sent"]

    return (await eventually(sent))[0]


async def _run(live: LiveStack, run_id: str) -> dict[str, Any]:
    return (await live.api.get(f"/v1/runs/{run_id}")).json()


async def _ended(live: LiveStack, run_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        run = await _run(live, run_id)
        return run if run["status"] != "running" else None

    return await eventually(check)


async def _signals(live: LiveStack, workflow_id: str) -> list[str]:
    """The kinds of every ``event`` signal in the workflow's history."""
    kinds = []
    async for event in live.temporal.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            payload = event.workflow_execution_signaled_event_attributes.input.payloads[0]
            kinds.append((await live.temporal.data_converter.decode([payload]))[0]["kind"])
    return kinds


async def _enrolled(live: LiveStack, name: str, email: str) -> tuple[dict[str, Any], dict[str, Any]]:
    await save_definition(live.api, welcome_definition(name, wait="PT1H"))
    contact = await create_contact(live.api, email=email, phone=None)
    run = (await enroll(live.api, name, contact["id"])).json()
    return contact, run


class TestReplies:
    async def test_a_reply_in_thread_stops_a_stop_on_reply_sequence(self, live: LiveStack) -> None:
        contact, run = await _enrolled(live, "mail_reply", "thread@example.test")
        sent = await _sent_email(live, run["run_id"])
        assert sent["provider_id"].startswith("<ft.")
        # From another address: the thread (In-Reply-To), not the sender, finds the contact.
        response = await live.api.post(PATH, json={
            "from": "Anna <anna.phone@elsewhere.test>", "to": "noreply@followthrough.example.test",
            "subject": "Re: Welcome", "text": "Call me tomorrow", "message_id": "<r1@elsewhere.test>",
            "in_reply_to": sent["provider_id"], "headers": passing("elsewhere.test")})
        assert response.status_code == 202, response.text
        assert response.json() | {"id": None} == {"id": None, "new": True, "matched": True,
                                                   "contact_id": contact["id"], "auto_submitted": False,
                                                   "verified": True, "signalled_runs": 1,
                                                   "intake": "reply", "ticket_id": None}
        stopped = await _ended(live, run["run_id"])
        assert (stopped["status"], stopped["reason"]) == ("stopped", "reply (email)")
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        entry = next(e for e in timeline if e["kind"] == "inbound.email")
        assert (entry["run_id"], entry["delivery_key"], entry["data"]["matched_by"]) == (
            run["run_id"], sent["key"], "thread")

    async def test_an_out_of_office_does_not_count_as_a_reply(self, live: LiveStack) -> None:
        contact, run = await _enrolled(live, "mail_ooo", "ooo@example.test")
        sent = await _sent_email(live, run["run_id"])
        response = await live.api.post(PATH, json={
            "from": "ooo@example.test", "to": "noreply@followthrough.example.test",
            "subject": "Automatic reply: Welcome", "text": "I am away until Monday.",
            "message_id": "<ooo1@example.test>", "in_reply_to": sent["provider_id"],
            "headers": {"Auto-Submitted": "auto-replied"}})
        assert response.status_code == 202
        assert (response.json()["auto_submitted"], response.json()["signalled_runs"]) == (True, 0)
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [e["data"].get("auto_reason") for e in timeline if e["kind"] == "inbound.email.auto"] == [
            "auto-submitted: auto-replied"]
        await asyncio.sleep(0.5)
        assert (await _run(live, run["run_id"]))["status"] == "running"
        assert await _signals(live, run["workflow_id"]) == []
        await live.api.post(f"/v1/runs/{run['run_id']}/cancel")

    async def test_every_active_run_of_the_contact_gets_the_reply(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("mail_a", wait="PT1H"))
        await save_definition(live.api, welcome_definition("mail_b", wait="PT1H"))
        contact = await create_contact(live.api, email="two.runs@example.test", phone=None)
        runs = [(await enroll(live.api, name, contact["id"])).json() for name in ("mail_a", "mail_b")]
        await _sent_email(live, runs[0]["run_id"])
        response = await live.api.post(PATH, json={   # no thread headers: matched by address
            "from": "Two.Runs@Example.test", "subject": "Question", "text": "How much is it?",
            "message_id": "<q1@example.test>", "headers": passing("example.test")})
        assert response.json()["signalled_runs"] == 2
        for run in runs:
            stopped = await _ended(live, run["run_id"])
            assert (stopped["status"], stopped["reason"]) == ("stopped", "reply (email)")
            assert await _signals(live, run["workflow_id"]) == ["reply"]


class TestVerification:
    """Anyone can write any From: only a mail the relay verified (or a trusted relay) stops runs."""

    async def test_an_unverified_reply_is_recorded_and_stops_nothing(self, live: LiveStack) -> None:
        contact, run = await _enrolled(live, "mail_forged", "boss@example.test")
        sent = await _sent_email(live, run["run_id"])
        response = await live.api.post(PATH, json={
            "from": "boss@example.test", "subject": "Re: Welcome", "text": "Stop sending",
            "message_id": "<forged1@evil.test>", "in_reply_to": sent["provider_id"],
            "headers": {"Authentication-Results": "mx.followthrough.test; dkim=pass header.d=evil.test; "
                                                  "spf=pass smtp.mailfrom=x@evil.test"}})
        assert response.status_code == 202
        assert (response.json()["verified"], response.json()["signalled_runs"]) == (False, 0)
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        entry = next(e for e in timeline if e["direction"] == "inbound")
        assert (entry["kind"], entry["data"]["verified_by"], entry["data"]["unverified_reason"]) == (
            "inbound.email.unverified", None,
            "Authentication-Results pass neither DKIM nor SPF for the sender's domain")
        await asyncio.sleep(0.5)
        assert (await _run(live, run["run_id"]))["status"] == "running"
        assert await _signals(live, run["workflow_id"]) == []
        await live.api.post(f"/v1/runs/{run['run_id']}/cancel")

    @pytest.mark.parametrize(("headers", "kind", "verified_by"), [
        (passing("example.test"), "inbound.email", "dkim header.d=example.test"),
        ({"Authentication-Results": "mx; spf=pass smtp.mailfrom=bounces@example.test"}, "inbound.email",
         "spf smtp.mailfrom=example.test"),
        ({"Authentication-Results": "mx; dkim=fail header.d=example.test; spf=fail "
                                    "smtp.mailfrom=anna@example.test"}, "inbound.email.unverified", None),
        (passing("other.test"), "inbound.email.unverified", None),
        ({}, "inbound.email.unverified", None),
    ], ids=["dkim-pass", "spf-pass", "fail", "pass-for-another-domain", "no-header"])
    async def test_what_the_header_proves(
        self, api: httpx.AsyncClient, headers: dict[str, str], kind: str, verified_by: str | None
    ) -> None:
        contact = await create_contact(api, email="anna@example.test", phone=None)
        response = await api.post(PATH, json={"from": "Anna <anna@example.test>", "text": "Hi",
                                              "message_id": "<v1@example.test>", "headers": headers})
        assert (response.status_code, response.json()["verified"]) == (202, verified_by is not None)
        timeline = (await api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [(e["kind"], e["data"]["verified_by"]) for e in timeline] == [(kind, verified_by)]

    async def test_a_trusted_relay_verifies_every_mail(self, live: LiveStack) -> None:
        trusted = create_app(live.settings.model_copy(update={"inbound_trust_relay": True}),
                             engine=live.engine, temporal_client=live.temporal)
        contact, run = await _enrolled(live, "mail_trusted", "trusted@example.test")
        await _sent_email(live, run["run_id"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=trusted), base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
            response = await api.post(PATH, json={"from": "trusted@example.test", "text": "Yes please",
                                                  "message_id": "<t1@example.test>"})
        assert (response.json()["verified"], response.json()["signalled_runs"]) == (True, 1)
        stopped = await _ended(live, run["run_id"])
        assert (stopped["status"], stopped["reason"]) == ("stopped", "reply (email)")
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [e["data"]["verified_by"] for e in timeline if e["kind"] == "inbound.email"] == ["relay"]


class TestAnswersFromUsers:
    async def test_a_rep_answering_an_internal_alert_is_not_the_contacts_reply(self, live: LiveStack) -> None:
        rep = await live.api.post("/v1/users", json={"name": "Rep", "email": "rep@example.test", "role": "rep"})
        assert rep.status_code == 201, rep.text
        steps = [{"id": "tell_rep", "type": "send", "channel": "internal", "template": "welcome",
                  "to_user": "data.rep_id"},
                 {"id": "hold", "type": "wait", "duration": "PT1H"}]
        await save_definition(live.api, welcome_definition("mail_rep", steps=steps, stop_on=["reply"]))
        contact = await create_contact(live.api, email="client@example.test", phone=None)
        run = (await enroll(live.api, "mail_rep", contact["id"], rep_id=rep.json()["id"])).json()
        alert = await _sent_email(live, run["run_id"])
        assert (alert["to"], alert["to_user_id"], alert["contact_id"]) == (
            "rep@example.test", rep.json()["id"], contact["id"])
        # The rep answers the alert's thread: the contact did not reply, nothing stops.
        response = await live.api.post(PATH, json={
            "from": "rep@example.test", "to": "noreply@followthrough.example.test",
            "subject": "Re: Welcome", "text": "On it.", "message_id": "<rep1@example.test>",
            "in_reply_to": alert["provider_id"], "headers": passing("example.test")})
        assert response.status_code == 202, response.text
        assert (response.json()["matched"], response.json()["contact_id"], response.json()["signalled_runs"]) == (
            False, None, 0)
        await asyncio.sleep(0.5)
        assert (await _run(live, run["run_id"]))["status"] == "running"
        assert await _signals(live, run["workflow_id"]) == []
        await live.api.post(f"/v1/runs/{run['run_id']}/cancel")



class TestKeptAndDeduped:
    async def test_unknown_sender_is_listed_unmatched(self, live: LiveStack) -> None:
        response = await live.api.post(PATH, json={
            "from": "stranger@nowhere.test", "subject": "Hello?", "text": "Who are you?",
            "message_id": "<s1@nowhere.test>"})
        assert response.json()["matched"] is False
        page = (await live.api.get("/v1/inbound", params={"matched": "false", "channel": "email"})).json()
        assert [(i["from_address"], i["provider_id"], i["matched"], i["contact_id"], i["body"])
                for i in page["items"]] == [("stranger@nowhere.test", "<s1@nowhere.test>", False, None,
                                             "Who are you?")]
        assert (await live.api.get("/v1/inbound", params={"channel": "sms"})).json()["items"] == []

    async def test_the_same_message_id_twice_is_processed_once(self, live: LiveStack) -> None:
        contact = await create_contact(live.api, email="twice.mail@example.test", phone=None)
        body = {"from": "twice.mail@example.test", "subject": "Hi", "text": "once",
                "message_id": "<dup@example.test>", "headers": passing("example.test")}
        first = (await live.api.post(PATH, json=body)).json()
        second = (await live.api.post(PATH, json=body)).json()
        assert (first["new"], second["new"], first["id"]) == (True, False, second["id"])
        timeline = (await live.api.get(f"/v1/contacts/{contact['id']}/timeline")).json()["items"]
        assert [e["kind"] for e in timeline] == ["inbound.email"]
        assert len((await live.api.get("/v1/inbound")).json()["items"]) == 1

    async def test_pages_filtered_by_channel_are_exact(self, live: LiveStack) -> None:
        for n in range(5):
            await live.api.post(PATH, json={"from": f"p{n}@nowhere.test", "text": str(n),
                                            "message_id": f"<p{n}@nowhere.test>"})
        seen, cursor = [], None
        while True:
            params: dict[str, Any] = {"channel": "email", "limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await live.api.get("/v1/inbound", params=params)).json()
            seen += [i["body"] for i in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == ["4", "3", "2", "1", "0"]


class TestAccess:
    async def test_the_webhook_needs_a_manager_key(self, live: LiveStack) -> None:
        transport = live.api._transport
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
            response = await anonymous.post(PATH, json={"from": "a@x.test", "message_id": "<x@x>"})
        assert response.status_code == 401
        rep = await live.api.post("/v1/users", json={"name": "Rep", "role": "rep"})
        key = rep.json()["api_key"]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {key}"}) as as_rep:
            assert (await as_rep.post(PATH, json={"from": "a@x.test"})).status_code == 403
            assert (await as_rep.get("/v1/inbound")).status_code == 403
