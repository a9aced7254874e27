"""The users API: admins create users with role-bound API keys, shown once."""

from __future__ import annotations

import re

import httpx
import pytest

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


async def create_user(api: httpx.AsyncClient, role: str, name: str = "Rita") -> dict:
    response = await api.post("/v1/users", json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return response.json()


class TestCreate:
    async def test_returns_user_and_key_once(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/users",
            json={"name": "Mia Manager", "email": "Mia@Example.TEST", "role": "manager"},
        )
        assert response.status_code == 201
        body = response.json()
        assert re.fullmatch(r"ft_[A-Za-z0-9_-]{43}", body.pop("api_key"))
        assert RFC3339_UTC.match(body.pop("created_at"))
        assert RFC3339_UTC.match(body.pop("updated_at"))
        assert body == {
            "id": 1,
            "name": "Mia Manager",
            "email": "Mia@example.test",
            "role": "manager",
            "phone": None, "locale": "en", "time_zone": "UTC", "calendar": None, "manager_id": None,
            "active": True, "notify_channels": ["email"], "teams": [],
        }  # fmt: skip

    async def test_key_authenticates_with_its_role(self, api: httpx.AsyncClient) -> None:
        manager = await create_user(api, "manager")
        headers = {"Authorization": f"Bearer {manager['api_key']}"}
        assert (await api.get("/v1/templates", headers=headers)).status_code == 200
        assert (await api.get("/v1/users", headers=headers)).status_code == 403

    async def test_every_invalid_field_is_named(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/users", json={"name": "", "email": "x", "role": "boss"})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/name", "message": "String should have at least 1 character"},
            {
                "path": "/email",
                "message": "not a valid email address: An email address must have an @-sign.",
            },
            {"path": "/role", "message": "Input should be 'admin', 'manager' or 'rep'"},
        ]

    async def test_missing_role_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/users", json={"name": "Rita"})
        assert response.status_code == 422
        assert response.json()["errors"] == [{"path": "/role", "message": "Field required"}]


class TestList:
    async def test_lists_without_keys(self, api: httpx.AsyncClient) -> None:
        await create_user(api, "rep", "Rita")
        await create_user(api, "manager", "Mia")
        body = (await api.get("/v1/users")).json()
        assert body["next_cursor"] is None
        assert [sorted(u) for u in body["items"]] == [
            ["active", "calendar", "created_at", "email", "id", "locale", "manager_id", "name",
             "notify_channels", "phone", "role", "teams", "time_zone", "updated_at"]
        ] * 2
        assert [(u["id"], u["name"], u["role"]) for u in body["items"]] == [
            (1, "Rita", "rep"),
            (2, "Mia", "manager"),
        ]


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "body"), [("GET", None), ("POST", {"name": "X", "role": "admin"})]
    )
    async def test_rep_is_403(self, api: httpx.AsyncClient, method: str, body: dict | None) -> None:
        rep = await create_user(api, "rep")
        response = await api.request(
            method, "/v1/users", json=body, headers={"Authorization": f"Bearer {rep['api_key']}"}
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["code"], response.json()["detail"]) == (
            "forbidden",
            "This needs an admin API key.",
        )
        assert len((await api.get("/v1/users")).json()["items"]) == 1

    async def test_no_key_is_401(self, api: httpx.AsyncClient) -> None:
        request = api.build_request("POST", "/v1/users", json={"name": "X", "role": "admin"})
        del request.headers["Authorization"]
        response = await api.send(request)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def _as(user: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {user['api_key']}"}


class TestProfile:
    async def test_an_admin_sets_every_field(self, api: httpx.AsyncClient) -> None:
        boss = await create_user(api, "manager", "Mia")
        rep = await create_user(api, "rep", "Rita")
        response = await api.patch(f"/v1/users/{rep['id']}", json={
            "phone": "+36 30 123 4567", "locale": "hu", "time_zone": "Europe/Budapest",
            "calendar": "budapest_office", "manager_id": boss["id"], "notify_channels": ["sms", "email"],
            "active": False})
        assert response.status_code == 200, response.text
        body = response.json()
        assert {k: body[k] for k in ("phone", "locale", "time_zone", "calendar", "manager_id",
                                     "notify_channels", "active")} == {
            "phone": "+36301234567", "locale": "hu", "time_zone": "Europe/Budapest",
            "calendar": "budapest_office", "manager_id": boss["id"], "notify_channels": ["sms", "email"],
            "active": False}
        assert (await api.get(f"/v1/users/{rep['id']}")).json() == body

    async def test_every_bad_field_is_named_at_once(self, api: httpx.AsyncClient) -> None:
        rep = await create_user(api, "rep")
        response = await api.patch(f"/v1/users/{rep['id']}", json={
            "phone": "12345", "locale": "xx", "time_zone": "Mars/Base", "notify_channels": ["sms", "sms"],
            "name": None, "calendar": "Not A Name"})
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == [
            "/name", "/phone", "/locale", "/time_zone", "/calendar", "/notify_channels"]
        response = await api.patch(f"/v1/users/{rep['id']}", json={"notify_channels": ["fax"]})
        assert [e["path"] for e in response.json()["errors"]] == ["/notify_channels/0"]

    async def test_references_must_exist_and_managers_form_no_cycle(self, api: httpx.AsyncClient) -> None:
        top = await create_user(api, "manager", "Top")
        mid = await create_user(api, "manager", "Mid")
        assert (await api.patch(f"/v1/users/{mid['id']}", json={"manager_id": top["id"]})).status_code == 200
        response = await api.patch(f"/v1/users/{top['id']}", json={"manager_id": mid["id"], "calendar": "mars_office"})
        assert response.status_code == 422
        assert [(e["path"], e["message"]) for e in response.json()["errors"]] == [
            ("/calendar", "calendar 'mars_office' does not exist (GET /v1/calendars)"),
            ("/manager_id", f"user {mid['id']} reports to user {top['id']}: managers may not form a cycle")]
        response = await api.patch(f"/v1/users/{top['id']}", json={"manager_id": top["id"]})
        assert response.status_code == 422
        response = await api.patch(f"/v1/users/{top['id']}", json={"manager_id": 999})
        assert response.json()["errors"] == [{"path": "/manager_id", "message": "user 999 does not exist"}]

    async def test_a_user_changes_their_own_profile_but_not_role_active_or_manager(
        self, api: httpx.AsyncClient
    ) -> None:
        rep = await create_user(api, "rep")
        response = await api.patch(f"/v1/users/{rep['id']}", json={"locale": "ru"}, headers=_as(rep))
        assert (response.status_code, response.json()["locale"]) == (200, "ru")
        response = await api.patch(f"/v1/users/{rep['id']}", json={"role": "admin", "active": False},
                                   headers=_as(rep))
        assert response.status_code == 403
        assert [e["path"] for e in response.json()["errors"]] == ["/active", "/role"]
        assert (await api.get(f"/v1/users/{rep['id']}")).json()["role"] == "rep"

    async def test_another_user_is_not_found_to_a_rep(self, api: httpx.AsyncClient) -> None:
        rep = await create_user(api, "rep", "Rita")
        other = await create_user(api, "rep", "Olga")
        for method in ("GET", "PATCH"):
            response = await api.request(method, f"/v1/users/{other['id']}", headers=_as(rep),
                                         json={} if method == "PATCH" else None)
            assert (response.status_code, response.json()["detail"]) == (404, f"user {other['id']} does not exist")

    async def test_a_manager_reads_their_teams_users_only(self, api: httpx.AsyncClient) -> None:
        boss = await create_user(api, "manager", "Mia")
        mine = await create_user(api, "rep", "Rita")
        theirs = await create_user(api, "rep", "Olga")
        put = await api.put("/v1/teams/sales", json={"manager_id": boss["id"], "members": [{"user_id": mine["id"]}]})
        assert put.status_code == 201, put.text
        assert (await api.get(f"/v1/users/{mine['id']}", headers=_as(boss))).json()["teams"] == ["sales"]
        assert (await api.get(f"/v1/users/{theirs['id']}", headers=_as(boss))).status_code == 404
        # Reading is not changing: only admins change another user.
        response = await api.patch(f"/v1/users/{mine['id']}", json={"locale": "hu"}, headers=_as(boss))
        assert response.status_code == 403


class TestAbsences:
    async def test_add_list_delete(self, api: httpx.AsyncClient) -> None:
        rep = await create_user(api, "rep")
        url = f"/v1/users/{rep['id']}/absences"
        response = await api.post(url, json={"starts_at": "2026-07-01T00:00:00+02:00",
                                             "ends_at": "2026-07-15T00:00:00+02:00", "reason": "holiday"},
                                  headers=_as(rep))
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["starts_at"], body["ends_at"], body["reason"]) == (
            "2026-06-30T22:00:00.000000Z", "2026-07-14T22:00:00.000000Z", "holiday")
        assert [a["id"] for a in (await api.get(url)).json()["items"]] == [body["id"]]
        assert (await api.delete(f"{url}/{body['id']}", headers=_as(rep))).status_code == 204
        assert (await api.get(url)).json()["items"] == []
        assert (await api.delete(f"{url}/{body['id']}")).status_code == 404

    @pytest.mark.parametrize(("body", "errors"), [
        ({"starts_at": "2026-07-15T00:00:00Z", "ends_at": "2026-07-01T00:00:00Z"},
         [("", "ends_at must be after starts_at")]),
        ({"starts_at": "2026-01-01T00:00:00Z", "ends_at": "2028-01-01T00:00:00Z"},
         [("", "an absence lasts at most 366 days")]),
        ({"starts_at": "2026-07-01T00:00:00", "ends_at": "3026-07-01T00:00:00Z", "reason": "x" * 201},
         [("/starts_at", "Input should have timezone info"),
          ("/ends_at", "must be between 2000-01-01 and 2100-01-01"),
          ("/reason", "String should have at most 200 characters")]),
    ], ids=["ends before it starts", "longer than a year", "every bad field"])
    async def test_bad_absences_are_422(self, api: httpx.AsyncClient, body: dict, errors: list) -> None:
        rep = await create_user(api, "rep")
        response = await api.post(f"/v1/users/{rep['id']}/absences", json=body)
        assert response.status_code == 422
        assert [(e["path"], e["message"]) for e in response.json()["errors"]] == errors

    async def test_another_reps_absences_are_not_found(self, api: httpx.AsyncClient) -> None:
        rep = await create_user(api, "rep", "Rita")
        other = await create_user(api, "rep", "Olga")
        response = await api.get(f"/v1/users/{other['id']}/absences", headers=_as(rep))
        assert response.status_code == 404
        response = await api.post(f"/v1/users/{other['id']}/absences", headers=_as(rep), json={
            "starts_at": "2026-07-01T00:00:00Z", "ends_at": "2026-07-02T00:00:00Z"})
        assert response.status_code == 404
