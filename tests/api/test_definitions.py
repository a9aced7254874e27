"""The definitions API: full validation on save, versions that change nothing until published,
publish and roll back, version list, diff; enrollments use the active version only."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll
from tests.support.waiting import eventually

MAIL = {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}
TEXT = {"id": "text", "type": "send", "channel": "sms", "template": "welcome_followup"}


def doc(name: str = "onboard", *steps: dict, **top: object) -> dict:
    return {"name": name, "kind": "sequence", "category": "service", "locales": ["en", "ru"],
            "steps": list(steps or [MAIL]), **top}


async def save(api: httpx.AsyncClient, document: dict) -> httpx.Response:
    return await api.post("/v1/definitions", json=document)


async def publish(api: httpx.AsyncClient, name: str, version: int | None = None) -> httpx.Response:
    body = {} if version is None else {"version": version}
    return await api.post(f"/v1/definitions/{name}/publish", json=body)


async def versions(api: httpx.AsyncClient, name: str) -> list[tuple[int, bool, bool]]:
    """(version, published, active) per version."""
    response = await api.get(f"/v1/definitions/{name}/versions")
    assert response.status_code == 200, response.text
    return [(v["version"], v["published_at"] is not None, v["active"]) for v in response.json()["items"]]


class TestSave:
    async def test_first_save_is_stored_but_not_active(self, api: httpx.AsyncClient) -> None:
        response = await save(api, doc())
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["version"], body["created"], body["published"], body["active"]) == (1, True, False, False)
        assert body["warnings"] == []
        assert await versions(api, "onboard") == [(1, False, False)]

    async def test_identical_content_makes_no_version(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        text = yaml.safe_dump(doc(), sort_keys=True)  # same content, other format and key order
        again = await api.post("/v1/definitions", content=text, headers={"Content-Type": "application/yaml"})
        assert (again.status_code, again.json()["created"], again.json()["version"]) == (200, False, 1)

    async def test_saving_a_new_version_changes_nothing_that_runs(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        await publish(api, "onboard")
        response = await save(api, doc("onboard", MAIL, TEXT))
        assert (response.status_code, response.json()["version"], response.json()["active"]) == (201, 2, False)
        assert await versions(api, "onboard") == [(1, True, True), (2, False, False)]
        assert (await api.get("/v1/definitions/onboard")).json()["version"] == 1

    async def test_every_error_with_its_path_and_nothing_saved(self, api: httpx.AsyncClient) -> None:
        document = doc("broken",
                       {"id": "mail", "type": "send", "channel": "email", "template": "nope"},
                       {"id": "hold", "type": "wait", "business": {"duration": "PT1H", "calendar": "mars"}},
                       {"id": "check", "type": "if", "condition": "lead.score >=", "then": "mail"})
        response = await save(api, document)
        assert response.status_code == 422
        paths = [e["path"] for e in response.json()["errors"]]
        assert paths.count("/steps/0/template") == 2  # en and ru
        assert {"/steps/1/business/calendar", "/steps/2/condition"} <= set(paths)
        assert (await api.get("/v1/definitions/broken")).status_code == 404

    async def test_a_malformed_to_user_is_a_422_with_its_path(self, api: httpx.AsyncClient) -> None:
        await api.put("/v1/templates/email/welcome/ru", json={"subject": "Привет", "text": "Привет!"})
        internal = {"type": "send", "channel": "internal", "template": "welcome"}
        contact_mail = {"type": "send", "channel": "email", "template": "welcome"}
        response = await save(api, doc("notify", {"id": "a", **internal, "to_user": "rep@example.test"},
                                       {"id": "b", **contact_mail, "urgent": True}))
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        # Step 0 fails the schema; step 1, which parses, is checked all the same.
        assert [(e["path"], e["message"]) for e in response.json()["errors"]][1:] == [
            ("/steps/1/urgent", "urgent is for internal sends (to a user's working time)")]
        assert response.json()["errors"][0]["path"] == "/steps/0/to_user"
        assert (await api.get("/v1/definitions/notify")).status_code == 404
        # Without to_user an internal send goes to the contact's owner: a valid step.
        response = await save(api, doc("notify", {"id": "b", **internal}))
        assert response.status_code == 201, response.text

    async def test_long_sms_is_a_warning_per_locale(self, api: httpx.AsyncClient) -> None:
        long_text = "Hello {{ contact.name }}! " + "x" * 600
        put = await api.put("/v1/templates/sms/long_note/en", json={"text": long_text})
        assert put.status_code == 201, put.text
        await api.put("/v1/templates/sms/long_note/ru", json={"text": "Коротко."})
        response = await save(api, doc("chatty", {"id": "note", "type": "send", "channel": "sms",
                                                  "template": "long_note"}))
        assert response.status_code == 201, response.text
        assert response.json()["warnings"] == [{
            "path": "/steps/0/template",
            "message": "SMS 'long_note' (en) is 5 segments, over the limit of 3"}]

    async def test_a_rep_may_not_save(self, api: httpx.AsyncClient) -> None:
        rep = (await api.post("/v1/users", json={"name": "Rick", "role": "rep"})).json()
        response = await api.post("/v1/definitions", json=doc(),
                                  headers={"Authorization": f"Bearer {rep['api_key']}"})
        assert response.status_code == 403


class TestPublish:
    async def test_default_publishes_the_newest(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        await save(api, doc("onboard", MAIL, TEXT))
        response = await publish(api, "onboard")
        assert response.status_code == 200
        assert (response.json()["version"], response.json()["active"]) == (2, True)
        assert await versions(api, "onboard") == [(1, False, False), (2, True, True)]

    async def test_publishing_an_old_version_makes_it_active_again(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        await publish(api, "onboard")
        await save(api, doc("onboard", MAIL, TEXT))
        await publish(api, "onboard", 2)
        rollback = await publish(api, "onboard", 1)
        assert (rollback.status_code, rollback.json()["version"], rollback.json()["active"]) == (200, 1, True)
        assert await versions(api, "onboard") == [(1, True, True), (2, True, False)]
        assert (await api.get("/v1/definitions/onboard")).json()["version"] == 1
        again = await publish(api, "onboard", 1)  # already active: nothing changes
        assert again.json()["published_at"] == rollback.json()["published_at"]

    @pytest.mark.parametrize(("name", "version"), [("nothing", None), ("onboard", 9)])
    async def test_unknown_name_or_version_is_404(self, api: httpx.AsyncClient, name: str,
                                                  version: int | None) -> None:
        await save(api, doc())
        assert (await publish(api, name, version)).status_code == 404

    async def test_builtin_definitions_are_seeded_published(self, api: httpx.AsyncClient) -> None:
        assert await versions(api, "welcome_sequence") == [(1, True, True)]


class TestReadAndDiff:
    async def test_get_a_specific_version(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        await save(api, doc("onboard", MAIL, TEXT))
        one = (await api.get("/v1/definitions/onboard", params={"version": 1})).json()
        assert (one["version"], [s["id"] for s in one["document"]["steps"]]) == (1, ["mail"])
        assert (await api.get("/v1/definitions/onboard", params={"version": 3})).status_code == 404

    async def test_diff_has_unified_text_and_step_changes(self, api: httpx.AsyncClient) -> None:
        await save(api, doc("onboard", MAIL, {"id": "pause", "type": "wait", "duration": "P1D"}))
        await save(api, doc("onboard", {**MAIL, "template": "welcome"}, TEXT, category="sales"))
        await api.put("/v1/templates/email/welcome/ru", json={"subject": "Привет", "text": "Привет!"})
        await save(api, doc("onboard", {**MAIL, "channel": "internal", "to_user": "data.rep_id"}, TEXT, category="sales"))
        response = await api.get("/v1/definitions/onboard/diff", params={"from": 1, "to": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["steps"] == {"added": ["text"], "removed": ["pause"], "changed": []}
        assert body["fields"] == ["category"]
        assert body["unified"].startswith("--- onboard v1\n+++ onboard v2\n")
        assert "-category: service\n+category: sales\n" in body["unified"]
        later = (await api.get("/v1/definitions/onboard/diff", params={"from": 2, "to": 3})).json()
        assert later["steps"] == {"added": [], "removed": [], "changed": ["mail"]}
        same = (await api.get("/v1/definitions/onboard/diff", params={"from": 2, "to": 2})).json()
        assert (same["unified"], same["fields"]) == ("", [])
        missing = await api.get("/v1/definitions/onboard/diff", params={"from": 1, "to": 7})
        assert (missing.status_code, missing.json()["detail"]) == (
            404, "definition 'onboard' has no version 7 (its versions are 1 to 3)")
        unknown = await api.get("/v1/definitions/nothing/diff", params={"from": 1, "to": 2})
        assert unknown.json()["detail"] == "definition 'nothing' does not exist"

    async def test_list_marks_the_active_version(self, api: httpx.AsyncClient) -> None:
        await save(api, doc())
        items = {d["name"]: d for d in (await api.get("/v1/definitions")).json()["items"]}
        assert (items["onboard"]["active"], items["onboard"]["versions"]) == (False, 1)
        assert items["welcome_sequence"]["active"] is True


class TestLive:
    async def test_enrollment_needs_a_published_version_and_pins_it(self, live: LiveStack) -> None:
        api = live.api
        contact = await create_contact(api, email="pin@example.test", phone="+15555550181")
        await save(api, doc("live_pin"))
        refused = await enroll(api, "live_pin", contact["id"])
        assert refused.status_code == 409
        assert refused.json()["detail"] == "sequence 'live_pin' has no published version"

        assert (await publish(api, "live_pin")).status_code == 200
        first = await enroll(api, "live_pin", contact["id"])
        assert first.status_code == 201, first.text
        run_id = first.json()["run_id"]

        async def ended() -> dict | None:
            run = (await api.get(f"/v1/runs/{run_id}")).json()
            return run if run["status"] != "running" else None

        run = await eventually(ended, timeout=30)
        assert (run["status"], run["definition_version"]) == ("completed", 1)

        await save(api, doc("live_pin", MAIL, TEXT))
        assert await versions(api, "live_pin") == [(1, True, True), (2, False, False)]
        diff = (await api.get("/v1/definitions/live_pin/diff", params={"from": 1, "to": 2})).json()
        assert diff["steps"]["added"] == ["text"]
        await publish(api, "live_pin")
        second = await enroll(api, "live_pin", contact["id"])
        assert second.status_code == 201, second.text
        assert second.json()["definition_version"] == 2
