"""Object-level access: a rep or manager sees only the contacts in their scope (owned by them or
by their teams' members), with those contacts' runs, timelines, deliveries, holds and
preferences; anything else is a 404, as if it did not exist. Walks every contact-scoped route of
the access table, like tests/api/test_access.py walks every route."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine

from api import access
from api.app import create_app
from followthrough.models.vocab import Role, RunStatus
from followthrough.settings import Settings
from followthrough.store import contacts, definitions, holds, ledger, runs, teams, users
from followthrough.store.db import session_scope
from followthrough.store.tables import InboundMessage, Run

#: Path parameters that name a contact's object (api.access.OBJECT_PARAMS).
OBJECT_PATH = re.compile(r"\{(contact_id|run_id|external_id)\}")
#: Routes whose contact is in the body, not the path: checked by their handlers.
BODY_SCOPED = {("POST", "/v1/sequences/{name}/enrollments"), ("POST", "/v1/sequences/{name}/enrollments/batch"),
               ("POST", "/v1/definitions/{name}/preview"),
               ("POST", "/v1/templates/{channel}/{name}/{locale}/preview")}
SCOPED = sorted([key for key in access.ACCESS if OBJECT_PATH.search(key[1])] + sorted(BODY_SCOPED),
                key=lambda k: (k[1], k[0]))


@dataclass
class World:
    """Two teams. east: manager Mia, reps Rita and Rob; west: rep Olga. One contact each for
    Rita, Rob and Olga, each with a run, a delivery and a hold."""

    keys: dict[str, str]
    contact: dict[str, int]
    external: dict[str, str]
    run: dict[str, str]
    hold: dict[str, int]
    delivery: dict[str, int]


def _world(engine: Engine) -> World:
    keys, ids, contact, external, run, hold, delivery = {}, {}, {}, {}, {}, {}, {}
    with session_scope(engine) as session:
        for name, role in (("mia", "manager"), ("rita", "rep"), ("rob", "rep"), ("olga", "rep")):
            user, keys[name] = users.create(session, name=name, email=f"{name}@example.test", role=role)
            ids[name] = user.id
        teams.put(session, "east", members_in=[(ids["rita"], 1), (ids["rob"], 1)], manager_id=ids["mia"],
                  calendar=None)
        teams.put(session, "west", members_in=[(ids["olga"], 1)], manager_id=None, calendar=None)
        definitions.save(session, "hello", "sequence", {
            "name": "hello", "kind": "sequence", "category": "service", "locales": ["en"], "stop_on": [],
            "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}, publish=True)
        for owner in ("rita", "rob", "olga"):
            row = contacts.create(session, {"name": owner.title() + "'s", "email": f"c-{owner}@example.test",
                                            "external_id": f"crm-{owner}", "owner_id": ids[owner]})
            contact[owner], external[owner] = row.id, f"crm-{owner}"
            run_row = Run(id=runs.new_run_id(), kind="sequence", definition_name="hello", definition_version=1,
                          contact_id=row.id, workflow_id=f"seq-hello-{row.id}", status=RunStatus.COMPLETED)
            session.add(run_row)
            session.flush()
            run[owner] = run_row.id
            hold[owner] = holds.create(session, row.id, ["sales"], None, "").id  # type: ignore[arg-type, assignment]
            delivery[owner] = ledger.create(  # type: ignore[union-attr]
                session, key=f"{run_row.id}:mail:1", run_id=run_row.id, step_id="mail", visit=1,
                contact_id=row.id, channel="email", category="service", template="welcome", state="sent",
                attempts=1).id
    return World(keys, contact, external, run, hold, delivery)


@pytest.fixture
async def world(engine: Engine) -> World:
    return _world(engine)


@pytest.fixture
async def anon(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings, engine=engine))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def _url(path: str, world: World, owner: str) -> str:
    values = {"contact_id": world.contact[owner], "run_id": world.run[owner], "external_id": world.external[owner],
              "hold_id": world.hold[owner], "name": "hello", "channel": "email", "locale": "en"}
    return re.sub(r"\{([a-z_]+)\}", lambda m: str(values[m.group(1)]), path)


def _body(method: str, path: str, world: World, owner: str) -> dict | None:
    if path.endswith("/enrollments") or path.endswith("/preview"):
        if "/templates/" in path:
            return {"contact_id": world.contact[owner]}
        return {"contact_id": world.contact[owner]}
    if path.endswith("/batch"):
        return {"contacts": [{"contact_id": world.contact[owner]}]}
    return {} if method in ("POST", "PUT", "PATCH") else None


async def _call(client: httpx.AsyncClient, key: str, method: str, path: str, world: World,
                owner: str) -> httpx.Response:
    return await client.request(method, _url(path, world, owner), json=_body(method, path, world, owner),
                                headers={"Authorization": f"Bearer {key}"})


def _denied(response: httpx.Response, path: str) -> bool:
    if "/templates/" in path:  # the contact is a field of the body: an unknown one is a 422 there
        return response.status_code == 422 and response.json()["errors"] == [
            {"path": "/contact_id", "message": "no contact with this id"}]
    if path.endswith("/batch"):  # one answer per contact: the contact's own is the 404
        return response.status_code == 200 and response.json()["items"][0]["problem"]["status"] == 404
    return response.status_code == 404 and response.json()["code"] == "not_found"


class TestEveryScopedRoute:
    def test_every_route_naming_a_contact_is_walked(self) -> None:
        # The lead routes' own parameters are walked in tests/api/test_leads.py (TestAccess).
        assert set(access.OBJECT_PARAMS) == {"contact_id", "run_id", "external_id", "lead_id", "lead_external_id"}
        assert len(SCOPED) == 16  # a new contact-scoped route is walked here as soon as it exists

    @pytest.mark.parametrize("key", SCOPED, ids=[f"{m} {p}" for m, p in SCOPED])
    async def test_another_teams_object_is_not_found(self, anon: httpx.AsyncClient, world: World,
                                                     key: tuple[str, str]) -> None:
        method, path = key
        roles = access.ACCESS[key]
        # A rep of east, or (for routes only staff may call) east's manager, asks for Olga's (west).
        who = "rita" if Role.REP in roles else "mia"
        response = await _call(anon, world.keys[who], method, path, world, "olga")
        assert _denied(response, path), (response.status_code, response.text)
        # The owner is never told "not found" for their own contact's object.
        owner = "olga" if Role.REP in roles else None
        if owner is not None:
            response = await _call(anon, world.keys[owner], method, path, world, owner)
            assert not _denied(response, path), (response.status_code, response.text)

    @pytest.mark.parametrize("key", [k for k in SCOPED if k[0] != "GET" and Role.REP in access.ACCESS[k]],
                             ids=lambda k: f"{k[0]} {k[1]}")
    async def test_a_rep_changes_only_what_they_own(self, anon: httpx.AsyncClient, world: World,
                                                    key: tuple[str, str]) -> None:
        # Rob is Rita's teammate: she sees his contact but does not change it; Mia (their manager) does.
        method, path = key
        response = await _call(anon, world.keys["rita"], method, path, world, "rob")
        assert _denied(response, path), (response.status_code, response.text)
        response = await _call(anon, world.keys["mia"], method, path, world, "rob")
        assert not _denied(response, path), (response.status_code, response.text)


class TestLists:
    async def test_contacts_runs_and_deliveries_are_filtered(self, anon: httpx.AsyncClient, world: World) -> None:
        async def ids(who: str, path: str) -> list:
            key = world.keys[who] if who != "admin" else None
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            response = await anon.get(path, headers=headers)
            assert response.status_code == 200, response.text
            return sorted(item.get("run_id", item.get("id")) for item in response.json()["items"])

        east = sorted([world.contact["rita"], world.contact["rob"]])
        assert await ids("rita", "/v1/contacts") == east
        assert await ids("mia", "/v1/contacts") == east
        assert await ids("olga", "/v1/contacts") == [world.contact["olga"]]
        assert await ids("rita", "/v1/runs") == sorted([world.run["rita"], world.run["rob"]])
        assert await ids("olga", "/v1/runs") == [world.run["olga"]]
        assert await ids("rita", f"/v1/runs?contact_id={world.contact['olga']}") == []
        # (a delivery is listed by its run)
        assert await ids("mia", "/v1/deliveries") == sorted([world.run["rita"], world.run["rob"]])
        # Inbound messages: the scope's contacts' and those matched to no contact.
        with session_scope(anon._transport.app.state.engine) as session:  # type: ignore[attr-defined]
            for owner in (None, "rob", "olga"):
                session.add(InboundMessage(channel="sms", from_address=f"+1555{owner}", body="hi",
                                           contact_id=world.contact[owner] if owner else None,
                                           matched=owner is not None))
        response = await anon.get("/v1/inbound", headers={"Authorization": f"Bearer {world.keys['mia']}"})
        assert sorted(m["from_address"] for m in response.json()["items"]) == ["+1555None", "+1555rob"]

    async def test_the_scope_is_a_setting(self, settings: Settings, engine: Engine, world: World) -> None:
        owned = settings.model_copy(update={"rep_scope": "owned", "manager_scope": "all"})
        transport = httpx.ASGITransport(app=create_app(owned, engine=engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            async def ids(who: str) -> list[int]:
                response = await client.get("/v1/contacts", headers={"Authorization": f"Bearer {world.keys[who]}"})
                return [item["id"] for item in response.json()["items"]]

            assert await ids("rita") == [world.contact["rita"]]
            assert await ids("mia") == sorted(world.contact.values())
            response = await client.get(f"/v1/contacts/{world.contact['rob']}",
                                        headers={"Authorization": f"Bearer {world.keys['rita']}"})
            assert response.status_code == 404


class TestOwners:
    async def test_a_reps_new_contact_is_theirs_and_not_anothers(self, anon: httpx.AsyncClient, world: World) -> None:
        headers = {"Authorization": f"Bearer {world.keys['rita']}"}
        created = await anon.post("/v1/contacts", json={"email": "new@example.test"}, headers=headers)
        assert created.status_code == 201
        with session_scope(anon._transport.app.state.engine) as session:  # type: ignore[attr-defined]
            rita = users.by_api_key(session, world.keys["rita"])
            rob = users.by_api_key(session, world.keys["rob"])
            assert rita is not None and rob is not None
            rita_id, rob_id = rita.id, rob.id
        assert created.json()["owner_id"] == rita_id
        response = await anon.post("/v1/contacts", json={"email": "x@example.test", "owner_id": rob_id},
                                   headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"] == [{"path": "/owner_id", "message": f"you may not give contacts to user {rob_id}"}]
        response = await anon.patch(f"/v1/contacts/{created.json()['id']}", json={"owner_id": 999}, headers=headers)
        assert response.json()["errors"] == [{"path": "/owner_id", "message": "user 999 does not exist"}]
