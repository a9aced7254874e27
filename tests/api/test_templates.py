"""The templates API: validated saves, reads, lists and previews (admins and managers)."""

from __future__ import annotations

import httpx
import pytest

from followthrough.rendering import FileTemplateSource
from followthrough.settings import PROJECT_ROOT

ORDER_READY = (
    "Здравствуйте, {{ contact.name | first_name }}! Ваш заказ №{{ data.order }} готов. "
    "Заберите его до {{ data.until | format_date('d MMMM') }} в пункте выдачи."
)
GREETING = {
    "subject": "Hello {{ contact.name }}",
    "text": "Hello {{ contact.name }}",
    "html": "<p>Hello {{ contact.name }}</p>",
}


async def key_for(api: httpx.AsyncClient, role: str) -> dict[str, str]:
    response = await api.post("/v1/users", json={"name": f"A {role}", "role": role})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def put(api: httpx.AsyncClient, path: str, body: dict) -> httpx.Response:
    return await api.put(f"/v1/templates/{path}", json=body)


class TestSave:
    async def test_created_then_replaced(self, api: httpx.AsyncClient) -> None:
        first = await put(api, "sms/order_ready/ru", {"text": "Заказ готов."})
        second = await put(api, "sms/order_ready/ru", {"text": ORDER_READY})
        assert (first.status_code, second.status_code) == (201, 200)
        stored = (await api.get("/v1/templates/sms/order_ready/ru")).json()
        stored.pop("updated_at")
        assert stored == {
            "channel": "sms",
            "name": "order_ready",
            "locale": "ru",
            "source": "api",
            "subject": None,
            "text": ORDER_READY,
            "html": None,
        }

    async def test_locale_is_normalized(self, api: httpx.AsyncClient) -> None:
        response = await put(api, "sms/order_ready/ru_ru", {"text": "Готово."})
        assert response.status_code == 201
        assert response.json()["locale"] == "ru-RU"
        assert (await api.get("/v1/templates/sms/order_ready/ru-RU")).status_code == 200

    async def test_every_template_error_has_its_path(self, api: httpx.AsyncClient) -> None:
        response = await put(
            api,
            "email/broken/en",
            {
                "text": "Hi {{ contact.name }} {% if %}",
                "html": "{{ contact.name | shout }} {{ user }}",
            },
        )
        assert response.status_code == 422
        body = response.json()
        assert (body["code"], body["detail"]) == (
            "validation_failed",
            "The email template broken/en has errors.",
        )
        assert body["errors"] == [
            {"path": "/subject", "message": "required for email templates"},
            {
                "path": "/text",
                "message": "line 1: Expected an expression, got 'end of statement block'",
            },
            {"path": "/html", "message": "line 1: No filter named 'shout'."},
        ]
        assert (await api.get("/v1/templates/email/broken/en")).status_code == 404

    async def test_unknown_name_and_unused_part(self, api: httpx.AsyncClient) -> None:
        response = await put(api, "sms/promo/en", {"subject": "Hi", "text": "{{ customer.name }}"})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/subject", "message": "not used by sms templates"},
            {"path": "/text", "message": "unknown name 'customer' (use contact, data, run or timeline)"},
        ]

    @pytest.mark.parametrize(
        ("path", "error"),
        [
            (
                "fax/promo/en",
                {"path": "/path/channel", "message": "Input should be 'email', 'sms' or 'voice'"},
            ),
            (
                "sms/Promo/en",
                {
                    "path": "/path/name",
                    "message": "String should match pattern '^[a-z][a-z0-9_]{0,63}$'",
                },
            ),
            (
                "sms/promo/xx-YY",
                {
                    "path": "/path/locale",
                    "message": "'xx-YY' is not a known BCP 47 locale, e.g. en, ru-RU or hu",
                },
            ),
        ],
    )
    async def test_bad_address_is_422(self, api: httpx.AsyncClient, path: str, error: dict) -> None:
        response = await put(api, path, {"text": "Hi"})
        assert response.status_code == 422
        assert response.json()["errors"] == [error]

    async def test_unknown_body_field_is_422(self, api: httpx.AsyncClient) -> None:
        response = await put(api, "sms/promo/en", {"text": "Hi", "body": "x"})
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/body", "message": "Extra inputs are not permitted"}
        ]

    async def test_malformed_json_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.put(
            "/v1/templates/sms/promo/en",
            content=b"{text:",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["code"] == "malformed"


class TestRead:
    async def test_list_filters_by_channel(self, api: httpx.AsyncClient) -> None:
        await put(api, "sms/order_ready/ru", {"text": "Готово."})
        body = (await api.get("/v1/templates", params={"channel": "sms", "limit": 200})).json()
        assert body["next_cursor"] is None
        # The seeded file templates are listed with the one saved through the API.
        shipped = [(name, locale, "file") for channel, name, locale, _ in
                   FileTemplateSource(PROJECT_ROOT / "templates").load_all() if channel == "sms"]
        assert [(t["name"], t["locale"], t["source"]) for t in body["items"]] == sorted(
            [("order_ready", "ru", "api"), *shipped]
        )
        assert {t["channel"] for t in body["items"]} == {"sms"}
        assert "text" not in body["items"][0]

    async def test_missing_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/templates/sms/welcome_followup/de")
        assert response.status_code == 404
        assert response.json()["detail"] == "template sms/welcome_followup has no de version"


class TestPreview:
    async def test_sms_in_russian_with_segments(self, api: httpx.AsyncClient) -> None:
        await put(api, "sms/order_ready/ru", {"text": ORDER_READY})
        response = await api.post(
            "/v1/templates/sms/order_ready/ru-RU/preview",
            json={
                "contact": {"name": "Анна Петрова"},
                "data": {"order": 1042, "until": "2026-03-20"},
            },
        )
        assert response.status_code == 200
        text = (
            "Здравствуйте, Анна! Ваш заказ №1042 готов. Заберите его до 20 марта в пункте выдачи."
        )
        assert len(text) == 84  # > 70: two UCS-2 segments of 67
        assert response.json() == {
            "subject": None,
            "text": text,
            "html": None,
            "locale_used": "ru",
            "sms": {"encoding": "UCS-2", "characters": 84, "segments": 2},
        }

    async def test_stored_contact_and_fallback_to_default(self, api: httpx.AsyncClient) -> None:
        contact = await api.post("/v1/contacts", json={"name": "<b>Anna</b>", "locale": "hu", "external_id": "anna"})
        await put(api, "email/greeting/en", GREETING)
        response = await api.post(
            "/v1/templates/email/greeting/hu-HU/preview", json={"contact_id": contact.json()["id"]}
        )
        assert response.status_code == 200
        # Only html is autoescaped; hu-HU -> hu -> en (the default).
        assert response.json() == {
            "subject": "Hello <b>Anna</b>",
            "text": "Hello <b>Anna</b>",
            "html": "<p>Hello &lt;b&gt;Anna&lt;/b&gt;</p>",
            "locale_used": "en",
            "sms": None,
        }

    @pytest.mark.parametrize(
        ("text", "detail"),
        [
            (
                "{{ contact.__class__.__mro__ }}",
                "sms/bad.en text: line 1: SecurityError: access to attribute '__class__' of 'dict' object is unsafe.",
            ),
            (
                "{{ data.update({'x': 1}) }}",
                "sms/bad.en text: line 1: SecurityError: access to attribute 'update' of 'dict' object is unsafe.",
            ),
            (
                "Hi\n{{ data.missing }}",
                "sms/bad.en text: line 2: UndefinedError: 'dict object' has no attribute 'missing'",
            ),
        ],
    )
    async def test_render_failure_is_422(
        self, api: httpx.AsyncClient, text: str, detail: str
    ) -> None:
        assert (await put(api, "sms/bad/en", {"text": text})).status_code == 201
        response = await api.post("/v1/templates/sms/bad/en/preview", json={})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert (response.json()["code"], response.json()["detail"]) == ("render_failed", detail)

    async def test_unknown_template_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/templates/sms/nothing/ru-RU/preview", json={})
        assert response.status_code == 404
        assert response.json()["code"] == "template_not_found"
        assert (
            response.json()["detail"] == "template sms/nothing not found for locales ru-RU, ru, en"
        )

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({"contact_id": 99}, {"path": "/contact_id", "message": "no contact with this id"}),
            (
                {"contact_id": 1, "contact": {}},
                {"path": "/contact", "message": "not allowed together with contact_id"},
            ),
            (
                {"contact": {"time_zone": "Mars/Base"}},
                {
                    "path": "/contact/time_zone",
                    "message": "'Mars/Base' is not an IANA time zone name, e.g. Europe/Budapest",
                },
            ),
        ],
    )
    async def test_bad_contact_is_422(
        self, api: httpx.AsyncClient, body: dict, error: dict
    ) -> None:
        await put(api, "sms/order_ready/ru", {"text": "Готово."})
        response = await api.post("/v1/templates/sms/order_ready/ru/preview", json=body)
        assert response.status_code == 422
        assert response.json()["errors"] == [error]


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("GET", "/v1/templates", None),
            ("GET", "/v1/templates/sms/welcome_followup/ru", None),
            ("PUT", "/v1/templates/sms/welcome_followup/ru", {"text": "Hi"}),
            ("POST", "/v1/templates/sms/welcome_followup/ru/preview", {}),
        ],
    )
    async def test_rep_is_403(
        self, api: httpx.AsyncClient, method: str, path: str, body: dict | None
    ) -> None:
        headers = await key_for(api, "rep")
        response = await api.request(method, path, json=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["detail"] == "This needs an admin or manager API key."

    async def test_manager_may_save(self, api: httpx.AsyncClient) -> None:
        headers = await key_for(api, "manager")
        response = await api.put(
            "/v1/templates/sms/promo/hu", json={"text": "Szia {{ contact.name }}!"}, headers=headers
        )
        assert response.status_code == 201
