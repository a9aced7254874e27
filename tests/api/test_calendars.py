"""The calendars API: files seeded at start, edits through the API win, every error with a path."""

from __future__ import annotations

import httpx
import pytest

SHOP = {"time_zone": "Europe/Budapest", "country": "HU", "week": {"sat": [["10:00", "14:00"]]},
        "closed_dates": ["2026-12-24"]}


async def put(api: httpx.AsyncClient, name: str, body: object) -> httpx.Response:
    return await api.put(f"/v1/calendars/{name}", json=body)


class TestPut:
    async def test_creates_then_replaces(self, api: httpx.AsyncClient) -> None:
        created = await put(api, "shop", SHOP)
        assert created.status_code == 201, created.text
        body = created.json()
        assert body.pop("updated_at").endswith("Z")
        assert body == {"name": "shop", "time_zone": "Europe/Budapest", "country": "HU",
                        "week": {"sat": [["10:00", "14:00"]]}, "closed_dates": ["2026-12-24"],
                        "open_dates": [], "source": "api"}
        replaced = await put(api, "shop", {**SHOP, "time_zone": "UTC"})
        assert (replaced.status_code, replaced.json()["time_zone"]) == (200, "UTC")
        assert (await api.get("/v1/calendars/shop")).json()["time_zone"] == "UTC"

    async def test_every_error_has_its_path(self, api: httpx.AsyncClient) -> None:
        response = await put(api, "shop", {"time_zone": "Mars/Olympus", "country": "XX",
                                           "week": {"mon": [["09:00", "9:30"]]}, "colour": "red"})
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert sorted(e["path"] for e in problem["errors"]) == [
            "/colour", "/country", "/time_zone", "/week/mon/0/1"]
        assert (await api.get("/v1/calendars/shop")).status_code == 404

    async def test_overlapping_periods_are_rejected(self, api: httpx.AsyncClient) -> None:
        response = await put(api, "shop", {"week": {"mon": [["09:00", "13:00"], ["12:00", "17:00"]]}})
        assert response.status_code == 422
        assert response.json()["errors"][0]["message"].endswith("periods must be in order and must not overlap")

    async def test_bad_name_and_non_object_body(self, api: httpx.AsyncClient) -> None:
        assert (await put(api, "Shop-1", SHOP)).status_code == 422
        assert (await put(api, "shop", ["mon"])).status_code == 422

    async def test_a_rep_may_not_edit_calendars(self, api: httpx.AsyncClient) -> None:
        rep = (await api.post("/v1/users", json={"name": "Rick", "role": "rep"})).json()
        headers = {"Authorization": f"Bearer {rep['api_key']}"}
        assert (await api.put("/v1/calendars/shop", json=SHOP, headers=headers)).status_code == 403
        assert (await api.get("/v1/calendars", headers=headers)).status_code == 403


class TestRead:
    async def test_lists_seeded_files_and_stored_calendars_by_name(self, api: httpx.AsyncClient) -> None:
        await put(api, "shop", SHOP)
        items = (await api.get("/v1/calendars")).json()["items"]
        assert [(c["name"], c["source"]) for c in items] == [
            ("budapest_office", "file"), ("default", "file"), ("moscow_office", "file"), ("shop", "api")]
        office = next(c for c in items if c["name"] == "budapest_office")
        assert office["week"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
        assert office["country"] == "HU"

    async def test_builtin_answers_when_not_stored(self, api: httpx.AsyncClient) -> None:
        assert (await api.delete("/v1/calendars/moscow_office")).status_code == 204
        body = (await api.get("/v1/calendars/moscow_office")).json()
        assert (body["source"], body["time_zone"], body["updated_at"]) == ("builtin", "Europe/Moscow", None)

    async def test_unknown_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/calendars/nowhere")
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


class TestDelete:
    async def test_deletes_a_stored_calendar(self, api: httpx.AsyncClient) -> None:
        await put(api, "shop", SHOP)
        assert (await api.delete("/v1/calendars/shop")).status_code == 204
        assert (await api.get("/v1/calendars/shop")).status_code == 404
        assert (await api.delete("/v1/calendars/shop")).status_code == 404


class TestDefinitionsUseThem:
    @pytest.mark.parametrize(("calendar", "status"), [("shop", 201), ("nowhere", 422)])
    async def test_saving_a_definition_checks_its_calendars(
        self, api: httpx.AsyncClient, calendar: str, status: int
    ) -> None:
        await put(api, "shop", SHOP)
        document = {"name": "shop_hours", "kind": "sequence", "locales": ["en"], "steps": [
            {"id": "hold", "type": "wait", "business": {"duration": "PT2H", "calendar": calendar}},
            {"id": "mail", "type": "send", "channel": "email", "template": "welcome"},
        ]}
        response = await api.post("/v1/definitions", json=document)
        assert response.status_code == status, response.text
        if status == 422:
            assert response.json()["errors"] == [
                {"path": "/steps/0/business/calendar", "message": "no calendar named 'nowhere'"}]
