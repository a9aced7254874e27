"""Bounded requests: the body size limit (413) and the rate limits (429 with Retry-After)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from tests.conftest import ADMIN_KEY, make_settings
from tests.support.factories import create_contact

KIB = 1024


def _client(app: Any, key: str | None = ADMIN_KEY) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver",
                             headers=headers)


async def _chunks(total: int, size: int = 16 * KIB) -> AsyncIterator[bytes]:
    """A body streamed without Content-Length (chunked), ``total`` bytes of a JSON string."""
    yield b'{"name": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def _raw_post(app: Any, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
                    ) -> tuple[int, dict[str, Any]]:
    """POST through the ASGI interface itself, so the headers can lie about the body."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {ADMIN_KEY}".encode()),
                    *headers],
    }
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


class TestBodySizeLimit:
    async def test_a_declared_oversize_body_is_413_problem(self, api: httpx.AsyncClient) -> None:
        body = json.dumps({"name": "x" * (256 * KIB)})
        response = await api.post("/v1/contacts", content=body,
                                  headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "body_too_large"
        assert response.json()["detail"] == "The request body is larger than 262144 bytes."

    async def test_a_chunked_body_without_length_is_cut_off(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/contacts", content=_chunks(300 * KIB),
                                  headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large")

    async def test_a_lying_content_length_is_cut_off(self, settings: Any, engine: Engine) -> None:
        app = create_app(settings, engine=engine)
        chunks = [b'{"name": "', *[b"x" * (64 * KIB)] * 5, b'"}']
        status, body = await _raw_post(app, "/v1/contacts", chunks,
                                       [(b"content-type", b"application/json"),
                                        (b"content-length", b"20")])
        assert (status, body["code"]) == (413, "body_too_large")

    @pytest.mark.parametrize("length", [b"-1", b"1e9", b"9" * 5000])
    async def test_a_bad_content_length_is_413(self, settings: Any, engine: Engine,
                                               length: bytes) -> None:
        app = create_app(settings, engine=engine)
        status, body = await _raw_post(app, "/v1/contacts", [b"{}"],
                                       [(b"content-type", b"application/json"),
                                        (b"content-length", length)])
        assert (status, body["code"]) == (413, "body_too_large")

    @pytest.mark.parametrize(("path", "content_type"), [
        ("/v1/webhooks/twilio/sms", "application/x-www-form-urlencoded"),
        ("/u/not-a-token", "application/x-www-form-urlencoded"),
        ("/v1/definitions", "application/yaml"),
    ])
    async def test_form_webhook_and_yaml_routes_are_limited(
        self, api: httpx.AsyncClient, path: str, content_type: str,
    ) -> None:
        response = await api.post(path, content=_chunks(300 * KIB),
                                  headers={"Content-Type": content_type})
        assert (response.status_code, response.json()["code"]) == (413, "body_too_large")

    async def test_the_limit_is_a_setting(self, tmp_path: Path, engine: Engine) -> None:
        settings = make_settings(tmp_path, max_body_bytes=2 * KIB)
        async with _client(create_app(settings, engine=engine)) as client:
            small = await client.post("/v1/contacts", json={"external_id": "x1", "attributes": {"note": "x" * 1500}})
            large = await client.post("/v1/contacts", json={"external_id": "x2", "attributes": {"note": "x" * 2100}})
        assert (small.status_code, large.status_code) == (201, 413)


class TestWriteRateLimit:
    async def test_writes_past_the_limit_are_429_with_retry_after(self, tmp_path: Path,
                                                                  engine: Engine) -> None:
        settings = make_settings(tmp_path, rate_limit_writes="3/minute")
        async with _client(create_app(settings, engine=engine)) as client:
            statuses = [(await client.post("/v1/contacts", json={"name": f"C{n}", "external_id": f"c{n}"})).status_code
                        for n in range(3)]
            refused = await client.post("/v1/contacts", json={"name": "C3", "external_id": "c3"})
            read = await client.get("/v1/contacts")
        assert statuses == [201, 201, 201]
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert read.status_code == 200  # reads are not counted

    async def test_each_api_key_has_its_own_budget(self, tmp_path: Path, engine: Engine) -> None:
        settings = make_settings(tmp_path, rate_limit_writes="2/minute")
        app = create_app(settings, engine=engine)
        async with _client(app) as admin:
            user = (await admin.post("/v1/users", json={"name": "Rep", "role": "rep"})).json()
            await admin.post("/v1/contacts", json={"name": "A", "external_id": "a"})
            refused = await admin.post("/v1/contacts", json={"name": "B", "external_id": "b"})
        async with _client(app, user["api_key"]) as rep:
            allowed = await rep.post("/v1/contacts", json={"name": "C", "external_id": "c"})
        assert (refused.status_code, allowed.status_code) == (429, 201)

    async def test_requests_without_a_key_are_not_counted(self, tmp_path: Path,
                                                          engine: Engine) -> None:
        settings = make_settings(tmp_path, rate_limit_writes="1/minute")
        app = create_app(settings, engine=engine)
        async with _client(app, key=None) as anonymous:
            statuses = [(await anonymous.post("/v1/contacts", json={})).status_code
                        for _ in range(3)]
        assert statuses == [401, 401, 401]


class TestEventRateLimit:
    async def test_events_past_the_limit_are_429_per_contact(self, tmp_path: Path,
                                                             engine: Engine) -> None:
        settings = make_settings(tmp_path, rate_limit_events="2/minute")
        async with _client(create_app(settings, engine=engine)) as client:
            first = await create_contact(client, phone=None)
            second = await create_contact(client, email="second@example.test", phone=None)
            url = f"/v1/contacts/{first['id']}/events"
            statuses = [(await client.post(url, json={"event": "x"})).status_code for _ in range(2)]
            refused = await client.post(url, json={"event": "x"})
            other = await client.post(f"/v1/contacts/{second['id']}/events", json={"event": "x"})
        assert statuses == [202, 202]
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert refused.headers["content-type"] == "application/problem+json"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert other.status_code == 202

    async def test_unauthenticated_posts_do_not_use_the_budget(self, tmp_path: Path,
                                                               engine: Engine) -> None:
        settings = make_settings(tmp_path, rate_limit_events="1/minute")
        app = create_app(settings, engine=engine)
        async with _client(app) as client:
            contact = await create_contact(client, phone=None)
            url = f"/v1/contacts/{contact['id']}/events"
            async with _client(app, key="not-a-key") as stranger:
                denied = await stranger.post(url, json={"event": "x"})
            accepted = await client.post(url, json={"event": "x"})
        assert (denied.status_code, accepted.status_code) == (401, 202)
