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
        assert body == {
            "id": 1,
            "name": "Mia Manager",
            "email": "Mia@example.test",
            "role": "manager",
        }

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
            ["created_at", "email", "id", "name", "role"]
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
