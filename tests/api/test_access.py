"""Who may do what: every route is guarded or allow-listed, every route is in the one table, and
each route answers 401 without a key and 403 exactly to the roles the table leaves out."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import Engine

from api import access
from api.app import create_app
from followthrough.models.vocab import Role
from followthrough.settings import PROJECT_ROOT, Settings
from tests.api.test_users import create_user

# Written out here, not imported: widening the allow-list must be a visible change to this test.
ALLOW_LIST = {
    ("GET", "/healthz"),
    ("POST", "/v1/webhooks/twilio/sms"),
    ("POST", "/v1/webhooks/twilio/status"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("GET", "/a/{token}"),
    ("POST", "/a/{token}"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/v1/definitions/schema"),
}

TABLE = sorted(access.ACCESS.items(), key=lambda item: (item[0][1], item[0][0]))


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def _call(api: httpx.AsyncClient, method: str, path: str, key: str | None) -> httpx.Response:
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    request = api.build_request(method, _url(path), json=body)
    if key is None:
        del request.headers["Authorization"]
    else:
        request.headers["Authorization"] = f"Bearer {key}"
    return await api.send(request)


class TestRoutes:
    def test_every_route_is_guarded_unless_allow_listed(self, settings: Settings, engine: Engine) -> None:
        app = create_app(settings, engine=engine)
        unguarded = [key for key, context in access.route_keys(app) if not access.guarded(context)]
        assert set(unguarded) <= ALLOW_LIST, sorted(set(unguarded) - ALLOW_LIST)
        assert access.PUBLIC == ALLOW_LIST

    def test_every_route_is_in_the_table(self, settings: Settings, engine: Engine) -> None:
        app = create_app(settings, engine=engine)
        served = {key for key, _ in access.route_keys(app)}
        assert served - ALLOW_LIST == set(access.ACCESS)
        assert len(access.ACCESS) == 80

    def test_an_app_with_a_route_missing_from_the_table_refuses_to_build(
        self, settings: Settings, engine: Engine
    ) -> None:
        app = create_app(settings, engine=engine)
        extra = APIRouter()
        extra.add_api_route("/v1/secrets", lambda: {}, methods=["GET"])
        app.include_router(extra)
        with pytest.raises(RuntimeError) as raised:
            access.check_routes(app)
        assert str(raised.value) == (
            "Access table and routes disagree: GET /v1/secrets has no entry in api.access.ACCESS"
        )

    async def test_a_route_added_after_the_check_is_closed_even_to_admin(
        self, settings: Settings, engine: Engine
    ) -> None:
        app = create_app(settings, engine=engine)
        app.add_api_route("/v1/late", lambda: {"secret": 1}, methods=["GET"])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/v1/late", headers={"Authorization": f"Bearer {settings.admin_api_key}"})
        assert response.status_code == 403
        assert response.json()["detail"] == "This route has no access rule."


@pytest.fixture
async def keys(api: httpx.AsyncClient) -> dict[Role, str]:
    rep = await create_user(api, "rep", "Rita")
    manager = await create_user(api, "manager", "Mia")
    return {Role.REP: rep["api_key"], Role.MANAGER: manager["api_key"]}


class TestRouteByRoute:
    @pytest.mark.parametrize(("key", "roles"), TABLE, ids=[f"{m} {p}" for (m, p), _ in TABLE])
    async def test_roles_from_the_table(
        self, api: httpx.AsyncClient, keys: dict[Role, str], key: tuple[str, str], roles: frozenset[Role]
    ) -> None:
        method, path = key
        anonymous = await _call(api, method, path, None)
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
        for role in (Role.REP, Role.MANAGER):
            response = await _call(api, method, path, keys[role])
            if role in roles:
                assert response.status_code not in (401, 403), (role, response.text)
            else:
                assert response.status_code == 403, (role, response.text)
                assert response.json()["code"] == "forbidden"
        assert Role.ADMIN in roles

    @pytest.mark.parametrize("key", sorted(ALLOW_LIST - {("GET", "/healthz")}))
    async def test_allow_listed_routes_need_no_key(self, api: httpx.AsyncClient, key: tuple[str, str]) -> None:
        # /healthz is covered by tests/api/test_health.py (it waits on Temporal).
        response = await _call(api, *key, None)
        assert response.status_code != 401
        if key[1].startswith("/v1/webhooks/twilio/"):  # no key, but the signature is checked
            assert response.status_code == 403
            assert response.json()["code"] != "unauthorized"


class TestRepLimits:
    """The issue's explicit list: a rep cannot do these, and the answer says what is needed."""

    @pytest.mark.parametrize(
        ("method", "path", "detail"),
        [
            ("POST", "/v1/runs/1/cancel", "This needs an admin or manager API key."),
            ("PUT", "/v1/policy", "This needs an admin API key."),
            ("GET", "/v1/deliveries", "This needs an admin or manager API key."),
            ("POST", "/v1/webhooks/email/inbound", "This needs an admin or manager API key."),
        ],
    )
    async def test_rep_is_403(
        self, api: httpx.AsyncClient, keys: dict[Role, str], method: str, path: str, detail: str
    ) -> None:
        response = await _call(api, method, path, keys[Role.REP])
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == detail


class TestReadmeTable:
    def test_readme_prints_the_access_table(self) -> None:
        readme = (Path(PROJECT_ROOT) / "README.md").read_text(encoding="utf-8")
        match = re.search(r"<!-- access-table -->\n(.*?)<!-- /access-table -->", readme, re.S)
        assert match is not None, "README.md has no <!-- access-table --> block"
        assert match.group(1) == access.markdown_table()
