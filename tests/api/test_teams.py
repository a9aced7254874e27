"""The teams API: save the whole team (members with weights, manager, calendar), read it, list."""

from __future__ import annotations

import httpx

from tests.api.test_users import _as, create_user


class TestPut:
    async def test_creates_then_replaces(self, api: httpx.AsyncClient) -> None:
        boss = await create_user(api, "manager", "Mia")
        rita = await create_user(api, "rep", "Rita")
        olga = await create_user(api, "rep", "Olga")
        first = await api.put("/v1/teams/sales_budapest", json={
            "manager_id": boss["id"], "calendar": "budapest_office",
            "members": [{"user_id": rita["id"], "weight": 2}, {"user_id": olga["id"]}]})
        assert first.status_code == 201, first.text
        body = first.json()
        assert {k: body[k] for k in ("name", "manager_id", "calendar", "members")} == {
            "name": "sales_budapest", "manager_id": boss["id"], "calendar": "budapest_office",
            "members": [{"user_id": rita["id"], "weight": 2}, {"user_id": olga["id"], "weight": 1}]}
        second = await api.put("/v1/teams/sales_budapest", json={"members": [{"user_id": olga["id"]}]})
        assert second.status_code == 200
        assert (second.json()["members"], second.json()["manager_id"]) == ([{"user_id": olga["id"], "weight": 1}], None)
        assert (await api.get("/v1/teams/sales_budapest")).json() == second.json()

    async def test_every_bad_field_is_named(self, api: httpx.AsyncClient) -> None:
        rita = await create_user(api, "rep", "Rita")
        response = await api.put("/v1/teams/sales", json={
            "manager_id": 0, "calendar": "Bad Name",
            "members": [{"user_id": rita["id"], "weight": 0}, {"user_id": rita["id"], "extra": 1}]})
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == [
            "/members/0/weight", "/members/1/extra", "/manager_id", "/calendar"]
        response = await api.put("/v1/teams/sales", json={
            "manager_id": 404, "calendar": "mars_office", "members": [{"user_id": rita["id"]}, {"user_id": 405}]})
        assert [(e["path"], e["message"]) for e in response.json()["errors"]] == [
            ("/calendar", "calendar 'mars_office' does not exist (GET /v1/calendars)"),
            ("/manager_id", "user 404 does not exist"),
            ("/members/1/user_id", "user 405 does not exist")]
        response = await api.put("/v1/teams/sales", json={"members": [{"user_id": rita["id"]}, {"user_id": rita["id"]}]})
        assert response.json()["errors"] == [{"path": "/members", "message": "each user may be a member once"}]
        assert (await api.put("/v1/teams/Sales!", json={})).status_code == 422
        assert (await api.get("/v1/teams/sales")).status_code == 404


class TestWhoSees:
    async def test_members_and_managers_see_their_teams_only(self, api: httpx.AsyncClient) -> None:
        boss = await create_user(api, "manager", "Mia")
        rita = await create_user(api, "rep", "Rita")
        olga = await create_user(api, "rep", "Olga")
        await api.put("/v1/teams/east", json={"manager_id": boss["id"], "members": [{"user_id": rita["id"]}]})
        await api.put("/v1/teams/west", json={"members": [{"user_id": olga["id"]}]})
        names = {who["name"]: [t["name"] for t in (await api.get("/v1/teams", headers=_as(who))).json()["items"]]
                 for who in (boss, rita, olga)}
        assert names == {"Mia": ["east"], "Rita": ["east"], "Olga": ["west"]}
        assert [t["name"] for t in (await api.get("/v1/teams")).json()["items"]] == ["east", "west"]
        assert (await api.get("/v1/teams/west", headers=_as(rita))).status_code == 404
        assert (await api.put("/v1/teams/east", json={}, headers=_as(boss))).status_code == 403
