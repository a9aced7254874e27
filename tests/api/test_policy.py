"""The policy API: defaults, admin-only replace, ISO-8601 durations, validation paths."""

from __future__ import annotations

import copy

import httpx

DEFAULTS = {
    "quiet_hours": {"start": "21:00", "end": "09:00", "channels": ["sms", "voice"],
                    "on_holidays": True},
    "categories": {
        "transactional": {"caps": [], "quiet_hours": False, "priority": 40,
                          "yield_after_higher": None, "at_least_once": True},
        "service": {"caps": [], "quiet_hours": True, "priority": 30, "yield_after_higher": None,
                    "at_least_once": True},
        "sales": {"caps": [{"limit": 2, "window": "P1D"}], "quiet_hours": True, "priority": 20,
                  "yield_after_higher": None, "at_least_once": False},
        "marketing": {"caps": [{"limit": 1, "window": "P1D"}, {"limit": 3, "window": "P7D"}],
                      "quiet_hours": True, "priority": 10, "yield_after_higher": "P1D",
                      "at_least_once": False},
    },
}


class TestGet:
    async def test_defaults_for_any_role(self, api: httpx.AsyncClient) -> None:
        created = await api.post("/v1/users", json={"name": "Rita", "role": "rep"})
        headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
        response = await api.get("/v1/policy", headers=headers)
        assert (response.status_code, response.json()) == (200, DEFAULTS)


class TestPut:
    async def test_admin_replaces_and_durations_round_trip(self, api: httpx.AsyncClient) -> None:
        document = copy.deepcopy(DEFAULTS)
        document["categories"]["sales"]["caps"] = [{"limit": 1, "window": "PT12H"}]
        document["quiet_hours"]["start"] = "22:00"
        response = await api.put("/v1/policy", json=document)
        assert (response.status_code, response.json()) == (200, document)
        assert (await api.get("/v1/policy")).json() == document

    async def test_manager_is_forbidden(self, api: httpx.AsyncClient) -> None:
        created = await api.post("/v1/users", json={"name": "Max", "role": "manager"})
        headers = {"Authorization": f"Bearer {created.json()['api_key']}"}
        response = await api.put("/v1/policy", json=DEFAULTS, headers=headers)
        assert response.status_code == 403

    async def test_schema_errors_have_paths(self, api: httpx.AsyncClient) -> None:
        document = copy.deepcopy(DEFAULTS)
        document["categories"]["sales"]["caps"] = [{"limit": -1, "window": "P1X"}]
        document["categories"]["gossip"] = {}
        response = await api.put("/v1/policy", json=document)
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == [
            "/categories/sales/caps/0/limit", "/categories/sales/caps/0/window",
            "/categories/gossip/[key]",
        ]

    async def test_rules_beyond_the_schema_have_paths(self, api: httpx.AsyncClient) -> None:
        document = copy.deepcopy(DEFAULTS)
        del document["categories"]["transactional"]
        document["categories"]["marketing"]["caps"][1]["window"] = "PT0S"
        response = await api.put("/v1/policy", json=document)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"path": "/categories/transactional", "message": "missing; the policy must list every category"},
            {"path": "/categories/marketing/caps/1/window", "message": "must be longer than zero"},
        ]
        assert (await api.get("/v1/policy")).json() == DEFAULTS
