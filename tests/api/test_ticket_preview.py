"""POST /v1/definitions/{name}/preview of an SLA policy: the built-in one, over HTTP."""

from __future__ import annotations

import httpx


class TestThroughTheApi:
    async def test_the_builtin_policy_previews_a_hungarian_complaint(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/definitions/support_sla/preview", json={
            "contact": {"name": "Kovács Anna", "locale": "hu", "time_zone": "Europe/Budapest"},
            "ticket": {"subject": "Rendelés", "text": "A panaszom: a csomag üres volt.", "channel": "email"},
            "start": "2026-12-04T16:30:00Z"})  # Friday; the default calendar closes at 17:00 UTC
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["kind"], body["category"], body["priority"], body["team"]) == ("sla_policy", "complaint", "high", "support")
        assert body["classification"]["words"] == {"complaint_hu": ["panaszom"]}
        # 2 working hours: 30 min on Friday, 1 h 30 min on Monday.
        assert body["first_response"] == {"at": "2026-12-07T10:30:00+00:00", "local": "2026-12-07T11:30:00+01:00",
                                          "zone": "Europe/Budapest"}
