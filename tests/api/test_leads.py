"""/v1/leads on the real dev server: intake with a new contact, upsert by external id, list and
read with every change explained; who may see which lead (another rep's is a 404); the updates,
a refused one a 409 naming the stage; disqualifying cancels what the lead owns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlmodel import select

from followthrough.store import definitions, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import Run, User
from tests.conftest import LiveStack
from tests.support.leads import POLICY, publish_policy

NEW_CONTACT = {"name": "Anna Kovács", "email": "anna@example.test", "locale": "hu",
               "time_zone": "Europe/Budapest"}


def _people(live: LiveStack) -> dict[str, tuple[int, str]]:
    """A manager with two reps in team ``sales`` (always at work), and a rep of another team:
    name -> (id, API key)."""
    found: dict[str, tuple[int, str]] = {}
    with session_scope(live.engine) as session:
        for name, role in (("Maria", "manager"), ("Peter", "rep"), ("Paul", "rep"), ("Olga", "rep")):
            user, key = users.create(session, name=name, email=f"{name.lower()}@example.test", role=role)
            found[name] = (user.id or 0, key)
        for name in ("Peter", "Paul"):
            user = session.get(User, found[name][0])
            user.manager_id = found["Maria"][0]  # type: ignore[union-attr]
            session.add(user)
        teams.put(session, "sales", members_in=[(found["Peter"][0], 1), (found["Paul"][0], 1)],
                  manager_id=found["Maria"][0], calendar=None)
        teams.put(session, "other", members_in=[(found["Olga"][0], 1)], manager_id=None, calendar=None)
    return found


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _settled(live: LiveStack, lead_id: int, stage: str) -> dict[str, Any]:
    for _ in range(200):
        found = (await live.api.get(f"/v1/leads/{lead_id}")).json()
        if found["stage"] == stage and (stage != "assigned" or found["task_id"]):
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"lead {lead_id} never reached {stage}: {found}")


@pytest.fixture
def people(live: LiveStack) -> dict[str, tuple[int, str]]:
    publish_policy(live.engine)
    return _people(live)


class TestIntake:
    async def test_a_lead_with_a_new_contact_is_scored_and_assigned_with_every_change_explained(
            self, live: LiveStack, people: dict[str, tuple[int, str]]) -> None:
        response = await live.api.post("/v1/leads", json={"contact": NEW_CONTACT, "source": "web",
                                                          "attributes": {"budget": 5000}})
        assert response.status_code == 201, response.text
        created = response.json()
        with session_scope(live.engine) as session:
            active = definitions.active(session, "default_leads")
        assert active is not None and active.document["fit"] == POLICY["fit"]  # the test's, over the built-in
        assert (created["policy_name"], created["policy_version"], created["source"]) == (
            "default_leads", active.version, "web")
        lead = await _settled(live, created["id"], "assigned")
        assert (lead["owner_id"], lead["score"]) == (people["Peter"][0], 60)
        kinds = [(e["kind"], e["rule"]) for e in lead["events"]]
        assert kinds[:2] == [("score", "fit:big_budget"), ("stage", "qualified")]
        assert ("assignment", "default") in kinds and kinds[-1] == ("stage", "assigned")
        [score] = [e for e in lead["events"] if e["kind"] == "score"]
        assert (score["points"], score["score"]) == (60, 60)
        timeline = (await live.api.get(f"/v1/contacts/{lead['contact_id']}/timeline")).json()["items"]
        assert "lead.score" in {entry["kind"] for entry in timeline}

    async def test_upsert_by_external_id_makes_one_lead(self, live: LiveStack,
                                                        people: dict[str, tuple[int, str]]) -> None:
        body = {"contact": NEW_CONTACT, "source": "crm", "attributes": {"budget": 10}}
        first = await live.api.put("/v1/leads/by-external-id/crm-1", json=body)
        again = await live.api.put("/v1/leads/by-external-id/crm-1", json={**body, "attributes": {"budget": 20}})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"] and again.json()["attributes"] == {"budget": 20}
        with session_scope(live.engine) as session:
            assert len(list(session.exec(select(Run).where(Run.kind == "lead")))) == 1

    @pytest.mark.parametrize(("body", "path"), [
        ({"source": "web"}, "/contact_id"),
        ({"contact_id": 1, "contact": NEW_CONTACT}, "/contact"),
        ({"contact": {"name": "No address"}}, "/contact"),
        ({"contact": {**NEW_CONTACT, "owner_id": 999}}, "/contact/owner_id"),
        ({"contact_id": 1, "source": "no spaces please"}, "/source"),
        ({"contact_id": 1, "surprise": 1}, "/surprise"),
    ])
    async def test_bad_input_is_a_422_naming_the_field(self, live: LiveStack, body: dict[str, Any],
                                                       path: str) -> None:
        response = await live.api.post("/v1/leads", json=body)
        assert response.status_code == 422, response.text
        assert path in [e["path"] for e in response.json()["errors"]]


class TestAccess:
    async def test_a_rep_sees_their_own_leads_and_another_reps_lead_is_not_found(
            self, live: LiveStack, people: dict[str, tuple[int, str]]) -> None:
        created = (await live.api.post("/v1/leads", json={"contact": NEW_CONTACT, "attributes": {"budget": 5000}})).json()
        lead = await _settled(live, created["id"], "assigned")
        assert lead["owner_id"] == people["Peter"][0]
        mine = await live.api.get(f"/v1/leads/{lead['id']}", headers=_as(people["Peter"][1]))
        theirs = await live.api.get(f"/v1/leads/{lead['id']}", headers=_as(people["Paul"][1]))
        stranger = await live.api.get(f"/v1/leads/{lead['id']}", headers=_as(people["Olga"][1]))
        manager = await live.api.get(f"/v1/leads/{lead['id']}", headers=_as(people["Maria"][1]))
        assert (mine.status_code, theirs.status_code, stranger.status_code, manager.status_code) == (200, 404, 404, 200)
        assert theirs.json()["detail"] == f"lead {lead['id']} does not exist"
        # Nor may another rep change it, and lists show each their own.
        refused = await live.api.post(f"/v1/leads/{lead['id']}/contacted", json={}, headers=_as(people["Paul"][1]))
        assert refused.status_code == 404
        listed = {name: [item["id"] for item in (await live.api.get("/v1/leads", headers=_as(key))).json()["items"]]
                  for name, (_, key) in people.items()}
        assert listed == {"Maria": [lead["id"]], "Peter": [lead["id"]], "Paul": [], "Olga": []}
        # A rep may not make a lead of a contact they do not own, nor upsert another's lead.
        theirs_contact = await live.api.post("/v1/leads", json={"contact_id": lead["contact_id"]},
                                             headers=_as(people["Olga"][1]))
        assert theirs_contact.status_code == 422
        assert theirs_contact.json()["errors"] == [
            {"path": "/contact_id", "message": f"contact {lead['contact_id']} does not exist"}]
        upsert = await live.api.put("/v1/leads/by-external-id/crm-9", json={"contact": NEW_CONTACT})
        assert upsert.status_code == 201
        taken = await live.api.put("/v1/leads/by-external-id/crm-9", json={"contact": NEW_CONTACT},
                                   headers=_as(people["Olga"][1]))
        assert taken.status_code == 404


class TestUpdates:
    async def test_contacted_stops_the_clock_and_convert_ends_the_lead(
            self, live: LiveStack, people: dict[str, tuple[int, str]]) -> None:
        created = (await live.api.post("/v1/leads", json={"contact": NEW_CONTACT, "attributes": {"budget": 5000}})).json()
        lead = await _settled(live, created["id"], "assigned")
        peter = _as(people["Peter"][1])
        contacted = await live.api.post(f"/v1/leads/{lead['id']}/contacted", json={"note": "called"}, headers=peter)
        assert contacted.status_code == 200, contacted.text
        assert contacted.json()["stage"] == "contacted" and contacted.json()["first_touch_seconds"] is not None
        again = await live.api.post(f"/v1/leads/{lead['id']}/contacted", json={}, headers=peter)
        assert again.status_code == 409
        assert again.json()["detail"] == ("the lead is contacted; contacted is allowed only when it is assigned")
        converted = await live.api.post(f"/v1/leads/{lead['id']}/convert", json={}, headers=peter)
        assert converted.json()["stage"] == "converted"
        closed = await live.api.post(f"/v1/leads/{lead['id']}/close", json={}, headers=peter)
        assert closed.status_code == 409 and "converted" in closed.json()["detail"]

    async def test_an_update_the_stage_refuses_is_a_409_naming_the_stage(
            self, live: LiveStack, people: dict[str, tuple[int, str]]) -> None:
        created = (await live.api.post("/v1/leads", json={"contact": NEW_CONTACT})).json()
        lead = await _settled(live, created["id"], "nurturing")
        for action in ("contacted", "reassign"):
            response = await live.api.post(f"/v1/leads/{lead['id']}/{action}", json={})
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "invalid_transition"
            assert response.json()["detail"].startswith("the lead is nurturing; ")

    async def test_disqualifying_cancels_the_nurture_run(self, live: LiveStack,
                                                        people: dict[str, tuple[int, str]]) -> None:
        created = (await live.api.post("/v1/leads", json={"contact": NEW_CONTACT})).json()
        for _ in range(200):
            lead = (await live.api.get(f"/v1/leads/{created['id']}")).json()
            if lead["nurture_run_id"]:
                break
            await asyncio.sleep(0.05)
        response = await live.api.post(f"/v1/leads/{lead['id']}/disqualify", json={"reason": "a competitor"})
        assert response.status_code == 200, response.text
        assert (response.json()["stage"], response.json()["reason"]) == ("disqualified", "a competitor")
        for _ in range(200):
            run = (await live.api.get(f"/v1/runs/{lead['nurture_run_id']}")).json()
            if run["status"] == "cancelled":
                break
            await asyncio.sleep(0.05)
        assert run["status"] == "cancelled"
        missing = await live.api.post(f"/v1/leads/{lead['id']}/disqualify", json={})
        assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "/reason"

    async def test_reassign_to_a_user_gives_them_a_task(self, live: LiveStack,
                                                       people: dict[str, tuple[int, str]]) -> None:
        created = (await live.api.post("/v1/leads", json={"contact": NEW_CONTACT, "attributes": {"budget": 5000}})).json()
        lead = await _settled(live, created["id"], "assigned")
        response = await live.api.post(f"/v1/leads/{lead['id']}/reassign", json={"owner_id": people["Paul"][0]},
                                       headers=_as(people["Maria"][1]))
        assert response.status_code == 200, response.text
        assert response.json()["owner_id"] == people["Paul"][0]
        for _ in range(200):
            after = (await live.api.get(f"/v1/leads/{lead['id']}")).json()
            if after["task_id"] not in (None, lead["task_id"]):
                break
            await asyncio.sleep(0.05)
        old = (await live.api.get(f"/v1/tasks/{lead['task_id']}")).json()
        new = (await live.api.get(f"/v1/tasks/{after['task_id']}")).json()
        assert (old["state"], new["owner_id"], after["reassignments"]) == ("cancelled", people["Paul"][0], 1)

