"""/v1/tasks on the real dev server: create (instant and relative due), list, read, act; who may
see what; every bad input a problem naming its field; a refused action a 409 naming the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from followthrough.store.db import session_scope
from followthrough.store.tables import Contact, User
from tests.api.test_users import create_user
from tests.conftest import LiveStack
from tests.support.factories import create_contact


async def _rep(live: LiveStack, name: str, time_zone: str = "Europe/Budapest") -> tuple[int, str]:
    """A rep's id and API key."""
    created = await create_user(live.api, "rep", name)
    with session_scope(live.engine) as session:
        user = session.get(User, created["id"])
        user.time_zone = time_zone  # type: ignore[union-attr]
        session.add(user)
    return created["id"], created["api_key"]


async def _contact(live: LiveStack, owner_id: int | None = None, time_zone: str = "Europe/Moscow") -> int:
    created = await create_contact(live.api, time_zone=time_zone)
    with session_scope(live.engine) as session:
        contact = session.get(Contact, created["id"])
        contact.owner_id = owner_id  # type: ignore[union-attr]
        session.add(contact)
    return created["id"]


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _task(api: httpx.AsyncClient, **body: object) -> httpx.Response:
    return await api.post("/v1/tasks", json={"kind": "call", "title": "Call back", **body})


class TestCreate:
    async def test_instant_due_defaults_the_owner_and_shows_both_zones(self, live: LiveStack) -> None:
        rep, _ = await _rep(live, "Rita")
        contact = await _contact(live, rep)
        due = (datetime.now(UTC) + timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
        response = await _task(live.api, contact_id=contact, due=due.isoformat(), note="quote")
        assert response.status_code == 201, response.text
        task = response.json()
        assert (task["owner_id"], task["state"], task["remind_before"], task["ics_sequence"]) == (rep, "open", "PT15M", 0)
        assert task["workflow_id"] == f"task-{task['id']}"
        assert task["run_id"] is None  # not made by a sequence's task step
        assert task["due"]["utc"] == due.isoformat(timespec="microseconds").replace("+00:00", "Z")
        assert task["due"]["contact"] == {"zone": "Europe/Moscow",
                                          "local": due.astimezone(ZoneInfo("Europe/Moscow")).isoformat()}
        assert task["due"]["owner"]["zone"] == "Europe/Budapest"
        assert datetime.fromisoformat(task["due"]["owner"]["local"]).utcoffset() in (timedelta(hours=1), timedelta(hours=2))
        described = await live.temporal.get_workflow_handle(task["workflow_id"]).describe()
        assert described.status.name == "RUNNING"

    async def test_relative_due_in_the_contacts_zone(self, live: LiveStack) -> None:
        rep, _ = await _rep(live, "Rita")
        contact = await _contact(live, rep)
        response = await _task(live.api, contact_id=contact, remind_before="PT30M",
                               due={"after": "P2D", "business": True, "at": "15:00", "zone": "contact"})
        assert response.status_code == 201, response.text
        task = response.json()
        local = datetime.fromisoformat(task["due"]["contact"]["local"])
        assert (local.hour, local.minute, local.utcoffset()) == (15, 0, timedelta(hours=3))
        assert local.date() > datetime.now(ZoneInfo("Europe/Moscow")).date()
        assert task["remind_before"] == "PT30M"

    async def test_bad_fields_are_named(self, live: LiveStack) -> None:
        orphan = await _contact(live)  # no owner
        cases = [
            ({"contact_id": orphan, "due": "2099-01-01T10:00:00Z"}, "/owner_id"),
            ({"owner_id": 999, "due": "2099-01-01T10:00:00Z"}, "/owner_id"),
            ({"contact_id": 99999, "owner_id": 1, "due": "2099-01-01T10:00:00Z"}, "/contact_id"),
            ({"contact_id": orphan, "owner_id": 1, "due": "2099-01-01T10:00:00"}, "/due"),
            ({"contact_id": orphan, "owner_id": 1, "due": {"after": "P1D", "zone": "Mars/Base"}}, "/due"),
            ({"contact_id": orphan, "owner_id": 1, "due": "2000-01-01T10:00:00Z"}, None),
        ]
        await create_user(live.api, "rep", "Owner One")
        for body, path in cases:
            response = await _task(live.api, **body)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            if path is not None:
                assert [e["path"] for e in response.json()["errors"]] == [path], response.text
        bad_kind = await live.api.post("/v1/tasks", json={"kind": "visit", "title": "x", "due": "2099-01-01T10:00:00Z"})
        assert bad_kind.status_code == 422 and bad_kind.json()["errors"][0]["path"] == "/kind"


class TestActions:
    async def test_complete_then_a_second_action_is_a_409_naming_the_state(self, live: LiveStack) -> None:
        rep, key = await _rep(live, "Rita")
        task = (await _task(live.api, owner_id=rep, due="2099-01-01T10:00:00Z")).json()
        done = await live.api.post(f"/v1/tasks/{task['id']}/complete", json={"outcome": "reached", "note": "ok"},
                                   headers=_as(key))
        assert done.status_code == 200, done.text
        assert (done.json()["state"], done.json()["outcome"], done.json()["note"]) == ("done", "reached", "ok")
        again = await live.api.post(f"/v1/tasks/{task['id']}/snooze", json={"duration": "PT1H"})
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["code"] == "invalid_transition"
        assert again.json()["detail"] == f"task {task['id']} is done; snooze is not allowed"

    async def test_reschedule_snooze_reassign_cancel(self, live: LiveStack) -> None:
        rep, _ = await _rep(live, "Rita")
        other, _ = await _rep(live, "Otto")
        task = (await _task(live.api, owner_id=rep, due="2099-01-01T10:00:00Z")).json()
        url = f"/v1/tasks/{task['id']}"
        moved = await live.api.post(f"{url}/reschedule", json={"due": "2099-01-02T10:00:00+01:00"})
        assert (moved.status_code, moved.json()["ics_sequence"], moved.json()["due"]["utc"]) == (
            200, 1, "2099-01-02T09:00:00.000000Z")
        snoozed = await live.api.post(f"{url}/snooze", json={"duration": "PT2H"})
        assert snoozed.json()["state"] == "snoozed" and snoozed.json()["snoozed_until"] is not None
        same = await live.api.post(f"{url}/reassign", json={"owner_id": rep})
        assert (same.status_code, same.json()["detail"]) == (409, f"task {task['id']} is already owned by user {rep}")
        missing = await live.api.post(f"{url}/reassign", json={"owner_id": 99999})
        assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "/owner_id"
        given = await live.api.post(f"{url}/reassign", json={"owner_id": other})
        assert (given.json()["owner_id"], given.json()["state"]) == (other, "open")
        too_long = await live.api.post(f"{url}/snooze", json={"duration": "P31D"})
        assert too_long.status_code == 422 and too_long.json()["errors"][0]["path"] == "/duration"
        cancelled = await live.api.post(f"{url}/cancel", json={})
        assert cancelled.json()["state"] == "cancelled" and cancelled.json()["closed_at"] is not None


class TestWhoSeesWhat:
    async def test_a_rep_sees_and_acts_on_their_own_tasks_only(self, live: LiveStack) -> None:
        rita, rita_key = await _rep(live, "Rita")
        otto, otto_key = await _rep(live, "Otto")
        mine = (await _task(live.api, owner_id=rita, due="2099-01-01T10:00:00Z")).json()
        theirs = (await _task(live.api, owner_id=otto, due="2099-01-01T11:00:00Z")).json()
        assert (await live.api.get(f"/v1/tasks/{theirs['id']}", headers=_as(rita_key))).status_code == 404
        refused = await live.api.post(f"/v1/tasks/{theirs['id']}/cancel", json={}, headers=_as(rita_key))
        assert refused.status_code == 404
        listed = await live.api.get("/v1/tasks", headers=_as(rita_key))
        assert [t["id"] for t in listed.json()["items"]] == [mine["id"]]
        asked = await live.api.get(f"/v1/tasks?owner={otto}", headers=_as(rita_key))
        assert asked.json()["items"] == []
        everyone = await live.api.get("/v1/tasks")  # admin
        assert [t["id"] for t in everyone.json()["items"]] == [mine["id"], theirs["id"]]
        by_rita = await live.api.post("/v1/tasks", json={"kind": "todo", "title": "x", "owner_id": otto,
                                                         "due": "2099-01-01T10:00:00Z"}, headers=_as(rita_key))
        assert by_rita.status_code == 403
        own = await live.api.post("/v1/tasks", json={"kind": "todo", "title": "x", "due": "2099-01-01T10:00:00Z"},
                                  headers=_as(otto_key))
        assert (own.status_code, own.json()["owner_id"]) == (201, otto)

    async def test_a_manager_sees_and_acts_on_their_teams_tasks_only(self, live: LiveStack) -> None:
        rita, _ = await _rep(live, "Rita")
        otto, _ = await _rep(live, "Otto")
        mona = await create_user(live.api, "manager", "Mona")
        team = await live.api.put("/v1/teams/budapest", json={"members": [{"user_id": rita}],
                                                               "manager_id": mona["id"]})
        assert team.status_code == 201, team.text
        ours = (await _task(live.api, owner_id=rita, due="2099-01-01T10:00:00Z")).json()
        other = (await _task(live.api, owner_id=otto, due="2099-01-01T11:00:00Z")).json()
        as_mona = _as(mona["api_key"])
        assert (await live.api.get(f"/v1/tasks/{ours['id']}", headers=as_mona)).status_code == 200
        assert (await live.api.get(f"/v1/tasks/{other['id']}", headers=as_mona)).status_code == 404
        refused = await live.api.post(f"/v1/tasks/{other['id']}/cancel", json={}, headers=as_mona)
        assert refused.status_code == 404
        listed = await live.api.get("/v1/tasks", headers=as_mona)
        assert [t["id"] for t in listed.json()["items"]] == [ours["id"]]
        done = await live.api.post(f"/v1/tasks/{ours['id']}/complete", json={}, headers=as_mona)
        assert (done.status_code, done.json()["state"]) == (200, "done")

    async def test_filters_and_pages(self, live: LiveStack) -> None:
        rep, _ = await _rep(live, "Rita")
        ids = [(await _task(live.api, owner_id=rep, due=f"2099-01-0{d}T10:00:00Z")).json()["id"] for d in (1, 2, 3)]
        await live.api.post(f"/v1/tasks/{ids[0]}/complete", json={})
        due_before = await live.api.get("/v1/tasks", params={"due_before": "2099-01-02T12:00:00Z", "state": "open"})
        assert [t["id"] for t in due_before.json()["items"]] == [ids[1]]
        naive = await live.api.get("/v1/tasks", params={"due_before": "2099-01-02T12:00:00"})
        assert naive.status_code == 422 and naive.json()["errors"][0]["path"] == "/query/due_before"
        first = await live.api.get("/v1/tasks", params={"owner": rep, "limit": 2})
        assert [t["id"] for t in first.json()["items"]] == ids[:2]
        rest = await live.api.get("/v1/tasks", params={"owner": rep, "limit": 2, "cursor": first.json()["next_cursor"]})
        assert ([t["id"] for t in rest.json()["items"]], rest.json()["next_cursor"]) == ([ids[2]], None)
