"""Batch enrollment on the real dev server: one answer per contact, in order, idempotent."""

from __future__ import annotations

import json

from tests.api.test_users import create_user
from tests.conftest import LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition

BATCH = "/v1/sequences/{name}/enrollments/batch"


async def _runs_of(live: LiveStack, contact_id: int) -> list[dict]:
    response = await live.api.get("/v1/runs", params={"contact_id": contact_id})
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestBatch:
    async def test_mixed_ids_answer_in_order_and_a_repeat_creates_nothing(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("batch_mixed", wait="PT1H"))
        new = await create_contact(live.api, email="new@example.test")
        running = await create_contact(live.api, email="running@example.test")
        by_external = await create_contact(live.api, email="ext@example.test", external_id="crm-42")
        single = (await enroll(live.api, "batch_mixed", running["id"])).json()
        body = {"data": {"plan": "pro", "source": "segment"}, "contacts": [
            {"contact_id": new["id"], "data": {"plan": "basic"}},
            {"contact_id": running["id"]},
            {"contact_id": 999999},
            {"external_id": "crm-42"},
            {"external_id": "crm-missing"},
        ]}

        response = await live.api.post(BATCH.format(name="batch_mixed"), json=body)

        assert response.status_code == 200, response.text
        answer = response.json()
        items = answer["items"]
        assert [(i["index"], i["contact_id"], i["external_id"], i["outcome"]) for i in items] == [
            (0, new["id"], None, "created"), (1, running["id"], None, "existing"),
            (2, 999999, None, "failed"), (3, by_external["id"], "crm-42", "created"),
            (4, None, "crm-missing", "failed"),
        ]
        assert items[1]["run_id"] == single["run_id"]
        assert items[2]["problem"] == {"status": 404, "code": "not_found", "errors": [],
                                       "detail": "contact 999999 does not exist"}
        assert items[4]["problem"] == {
            "status": 404, "code": "not_found", "detail": "no contact has external_id 'crm-missing'",
            "errors": [{"path": "/contacts/4/external_id", "message": "unknown"}]}
        assert answer["summary"] == {"total": 5, "created": 2, "existing": 1, "failed": 2}
        run = (await live.api.get(f"/v1/runs/{items[0]['run_id']}")).json()
        assert run["data"] == {"plan": "basic", "source": "segment"}
        assert run["workflow_id"] == items[0]["workflow_id"]
        described = await live.temporal.get_workflow_handle(items[3]["workflow_id"]).describe()
        assert described.status is not None

        again = (await live.api.post(BATCH.format(name="batch_mixed"), json=body)).json()

        assert [i["outcome"] for i in again["items"]] == ["existing", "existing", "failed", "existing", "failed"]
        assert [i["run_id"] for i in again["items"]] == [i["run_id"] for i in items]
        assert again["summary"] == {"total": 5, "created": 0, "existing": 3, "failed": 2}
        for contact in (new, running, by_external):
            assert len(await _runs_of(live, contact["id"])) == 1

    async def test_ndjson_streams_a_line_per_contact_then_the_summary(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("batch_stream", wait="PT1H"))
        contacts = [await create_contact(live.api, email=f"s{i}@example.test") for i in range(3)]
        body = {"contacts": [{"contact_id": c["id"]} for c in contacts] + [{"contact_id": 999998}]}

        async with live.api.stream("POST", BATCH.format(name="batch_stream"), json=body,
                                   headers={"Accept": "application/x-ndjson"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/x-ndjson"
            lines = [json.loads(line) async for line in response.aiter_lines() if line]

        assert len(lines) == 5
        assert sorted((line["index"], line["outcome"]) for line in lines[:4]) == [
            (0, "created"), (1, "created"), (2, "created"), (3, "failed")]
        assert lines[4] == {"summary": {"total": 4, "created": 3, "existing": 0, "failed": 1}}

    async def test_a_rep_key_may_enroll_a_batch(self, live: LiveStack) -> None:
        await save_definition(live.api, welcome_definition("batch_rep", wait="PT1H"))
        rep = await create_user(live.api, "rep", "Rita")
        contact = await create_contact(live.api, email="rep@example.test", owner_id=rep["id"])
        other = await create_contact(live.api, email="other@example.test")  # not the rep's
        response = await live.api.post(BATCH.format(name="batch_rep"),
                                       json={"contacts": [{"contact_id": contact["id"]},
                                                          {"contact_id": other["id"]}]},
                                       headers={"Authorization": f"Bearer {rep['api_key']}"})
        assert response.status_code == 200, response.text
        assert response.json()["summary"] == {"total": 2, "created": 1, "existing": 0, "failed": 1}
        assert response.json()["items"][1]["problem"]["status"] == 404


class TestBatchLimits:
    async def test_a_thousand_small_contacts_fit_the_body_limit(self, live: LiveStack) -> None:
        """1,000 contacts by external id with a little data each stay under FT_MAX_BODY_BYTES
        (256 KiB); none exists here, so nothing starts and each is a 404 of its own."""
        await save_definition(live.api, welcome_definition("batch_full", wait="PT1H"))
        contacts = [{"external_id": f"crm-{i:08d}", "data": {"segment": "spring-2026", "rank": i}}
                    for i in range(1000)]
        body = {"contacts": contacts, "data": {"campaign": "spring"}}
        assert len(json.dumps(body)) < live.settings.max_body_bytes
        response = await live.api.post(BATCH.format(name="batch_full"), json=body)
        assert response.status_code == 200, response.text
        assert response.json()["summary"] == {"total": 1000, "created": 0, "existing": 0, "failed": 1000}
        assert [i["index"] for i in response.json()["items"]] == list(range(1000))

    async def test_1001_contacts_is_a_422(self, live: LiveStack) -> None:
        body = {"contacts": [{"contact_id": i + 1} for i in range(1001)]}
        response = await live.api.post(BATCH.format(name="welcome_sequence"), json=body)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["path"] for e in response.json()["errors"]] == ["/contacts"]

    async def test_each_contact_needs_exactly_one_id(self, live: LiveStack) -> None:
        body = {"contacts": [{"contact_id": 1, "external_id": "x"}, {"data": {}}]}
        response = await live.api.post(BATCH.format(name="welcome_sequence"), json=body)
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/contacts/0", "/contacts/1"]

    async def test_merged_data_over_the_object_limit_is_a_422(self, live: LiveStack) -> None:
        half = "x" * (live.settings.max_object_bytes // 2 + 10)
        body = {"data": {"a": half}, "contacts": [{"contact_id": 1}, {"contact_id": 2, "data": {"b": half}}]}
        response = await live.api.post(BATCH.format(name="welcome_sequence"), json=body)
        assert response.status_code == 422
        assert [e["path"] for e in response.json()["errors"]] == ["/contacts/1/data"]

    async def test_an_unknown_sequence_fails_the_whole_batch(self, live: LiveStack) -> None:
        contact = await create_contact(live.api, email="whole@example.test")
        response = await live.api.post(BATCH.format(name="no_such_sequence"),
                                       json={"contacts": [{"contact_id": contact["id"]}]},
                                       headers={"Accept": "application/x-ndjson"})
        assert response.status_code == 404
        assert response.json()["detail"] == "sequence 'no_such_sequence' does not exist"
        assert await _runs_of(live, contact["id"]) == []
