"""Definitions of every kind through one store: lead and SLA policies are saved (validated
fully, every problem a 422 with its path), versioned, published, listed by kind and diffed like
sequences; the schema endpoint serves the union; enrolling in a policy is refused."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from followthrough.bootstrap import seed_builtins
from followthrough.settings import Settings
from followthrough.store.db import session_scope
from followthrough.store.tables import Lead, TeamRotation
from tests.api.test_users import create_user
from tests.conftest import ADMIN_KEY
from tests.support.factories import create_contact, enroll, save_definition


def lead_policy(name: str = "inbound_leads", **top: Any) -> dict[str, Any]:
    return {
        "name": name, "kind": "lead_policy",
        "fit": [{"id": "big", "when": "contact.attributes.employees >= 50", "points": 30},
                {"id": "web", "when": "lead.source == 'web'", "points": 10}],
        "engagement": {"reply": 15, "form.submitted": 10},
        "decay": {"half_life": "P14D"},
        "thresholds": {"qualified": 40, "disqualified": -20},
        "disqualify": [{"id": "student", "when": "lead.attributes.segment == 'student'", "reason": "not a buyer"}],
        "assignment": {"default_team": "sales",
                       "rules": [{"id": "hu", "when": "contact.locale == 'hu'", "team": "sales"}]},
        "sla": {"within": "PT1H", "ladder": [{"at": {"share": 1.0}, "notify": ["manager"]},
                                            {"at": {"share": 2.0}, "action": "reassign"}]},
        **top,
    }


def sla_policy(name: str = "support", **top: Any) -> dict[str, Any]:
    return {
        "name": name, "kind": "sla_policy", "calendar": "budapest_office",
        "classification": [{"id": "complaint_ru", "keywords": ["жалоба"], "language": "ru",
                            "category": "complaint", "priority": "high"}],
        "priorities": {
            "high": {"first_response": "PT1H", "next_response": "PT4H", "resolution": "P1D",
                     "ladder": [{"at": {"share": 0.8}, "notify": ["assignee"], "warning": True},
                                {"at": {"share": 1.0}, "notify": ["team_manager"]}]},
            "normal": {"first_response": "PT4H", "resolution": "P3D"},
        },
        "routing": [{"id": "complaints", "when": "ticket.category == 'complaint'", "team": "sales"}],
        "default_team": "sales",
        **top,
    }


@pytest.fixture
async def sales(api: httpx.AsyncClient) -> dict[str, Any]:
    """A team with one member, and an empty one."""
    rita = await create_user(api, "rep", "Rita")
    response = await api.put("/v1/teams/sales", json={"members": [{"user_id": rita["id"]}]})
    assert response.status_code == 201, response.text
    assert (await api.put("/v1/teams/nobody", json={"members": []})).status_code == 201
    return rita


async def problems(api: httpx.AsyncClient, document: dict[str, Any]) -> list[tuple[str, str]]:
    response = await api.post("/v1/definitions", json=document)
    assert response.status_code == 422, response.text
    return [(e["path"], e["message"]) for e in response.json()["errors"]]


class TestSave:
    @pytest.mark.usefixtures("sales")
    async def test_a_lead_policy_and_an_sla_policy_are_saved_published_and_read(self, api: httpx.AsyncClient) -> None:
        for document in (lead_policy(), sla_policy()):
            saved = await save_definition(api, document)
            assert (saved["kind"], saved["version"], saved["active"], saved["warnings"]) == (
                document["kind"], 1, True, [])
            read = (await api.get(f"/v1/definitions/{document['name']}")).json()
            assert (read["kind"], read["document"]["name"]) == (document["kind"], document["name"])

    @pytest.mark.usefixtures("sales")
    async def test_unknown_fields_have_their_paths(self, api: httpx.AsyncClient) -> None:
        document = lead_policy(colour="red")
        document["assignment"]["strategy_name"] = "x"
        document["sla"]["ladder"][0]["shout"] = True
        assert await problems(api, document) == [
            ("/assignment/strategy_name", "Extra inputs are not permitted"),
            ("/sla/ladder/0/shout", "Extra inputs are not permitted"),
            ("/colour", "Extra inputs are not permitted"),
        ]

    @pytest.mark.usefixtures("sales")
    async def test_expressions_that_do_not_parse_or_read_other_names(self, api: httpx.AsyncClient) -> None:
        document = lead_policy()
        document["fit"][0]["when"] = "contact.attributes.employees >="
        document["fit"][1]["when"] = "data.plan == 'pro'"
        document["disqualify"][0]["when"] = "lead.segmnet == 'student'"
        assert await problems(api, document) == [
            ("/fit/0/when", "expression 'contact.attributes.employees >=': does not parse: unexpected 'end of template'"),
            ("/fit/1/when", "expression 'data.plan == 'pro'': unknown name 'data' (use one of: contact, lead)"),
            ("/disqualify/0/when", "expression 'lead.segmnet == 'student'': 'lead' has no 'segmnet' "
                                   "(use one of: source, attributes, score, stage)"),
        ]

    @pytest.mark.usefixtures("sales")
    async def test_a_threshold_below_the_disqualify_line(self, api: httpx.AsyncClient) -> None:
        document = lead_policy(thresholds={"qualified": 10, "disqualified": 20})
        assert await problems(api, document) == [
            ("/thresholds", "Value error, the disqualify line (20) must be below the qualified threshold (10)")]

    @pytest.mark.usefixtures("sales")
    async def test_a_team_with_no_members_and_one_that_does_not_exist(self, api: httpx.AsyncClient) -> None:
        document = lead_policy()
        document["assignment"]["default_team"] = "nobody"
        document["assignment"]["rules"][0]["team"] = "marketing"
        assert await problems(api, document) == [
            ("/assignment/rules/0/team", "no team named 'marketing' (PUT /v1/teams/marketing)"),
            ("/assignment/default_team", "team 'nobody' has no members"),
        ]

    @pytest.mark.usefixtures("sales")
    async def test_nurture_calendar_and_ladder_references(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, sla_policy())
        document = lead_policy(nurture={"sequence": "support"})
        document["sla"] = {"within": "PT2H", "calendar": "mars_office", "ladder": [
            {"at": {"after": "PT2H"}, "notify": ["manager"]}, {"at": {"share": 0.5}, "action": "reassign"},
            {"at": {"share": 3}, "action": "reassign"}]}
        assert await problems(api, document) == [
            ("/sla/calendar", "no calendar named 'mars_office' (GET /v1/calendars)"),
            ("/nurture/sequence", "'support' is a sla_policy, not a sequence"),
            ("/sla/ladder/1/at", "tier 1 is reached after 1h00m of business time, not later than tier 0 "
                                 "(2h00m): a ladder's tiers climb"),
            ("/sla/ladder/2/action", "'reassign' is already tier 1's action: a ladder takes it once"),
        ]
        missing = await problems(api, lead_policy(nurture={"sequence": "no_such_sequence"}))
        assert missing == [("/nurture/sequence", "no sequence named 'no_such_sequence'")]

    async def test_sla_policy_targets_ladders_users_and_rules(self, api: httpx.AsyncClient,
                                                             sales: dict[str, Any]) -> None:
        document = sla_policy()
        document["classification"].append({"id": "outage", "keywords": ["outage"], "priority": "urgent",
                                           "when": "ticket.body != ''"})
        document["priorities"]["normal"] = {
            "first_response": "P5D", "resolution": "P3D", "calendar": "nowhere",
            "ladder": [{"at": {"share": 0.5}, "target": "next_response", "notify": [sales["id"], 999_999]}]}
        document["priorities"]["high"]["ladder"][1]["at"] = {"share": 0.5}
        document["routing"][0]["team"] = "nobody"
        assert await problems(api, document) == [
            ("/classification/1/when", "expression 'ticket.body != \'\'': 'ticket' has no 'body' "
                                       "(use one of: subject, text, channel, category, priority)"),
            ("/routing/0/team", "team 'nobody' has no members"),
            ("/priorities/normal/calendar", "no calendar named 'nowhere' (GET /v1/calendars)"),
            ("/priorities/normal/ladder/0/notify/1", "user 999999 does not exist"),
            ("/classification/1/priority", "priority 'urgent' has no targets in priorities"),
            ("/priorities/high/ladder/1/at", "tier 1 is reached after 12h00m of business time, not later "
                                             "than tier 0 (19h12m): a ladder's tiers climb"),
            ("/priorities/normal/first_response", "'P5D' is longer than the resolution target 'P3D'"),
            ("/priorities/normal/ladder/0/target", "no next_response target in this priority for the tier "
                                                   "to count on"),
        ]

    @pytest.mark.usefixtures("sales")
    async def test_a_notify_entry_that_is_neither_a_role_nor_a_user_id(self, api: httpx.AsyncClient) -> None:
        document = sla_policy()
        document["priorities"]["high"]["ladder"][0]["notify"] = ["boss"]
        assert await problems(api, document) == [
            ("/priorities/high/ladder/0/notify/0", "Input should be 'assignee' or 'team_manager'"),
            ("/priorities/high/ladder/0/notify/0", "Input should be a valid integer, unable to parse string as an integer"),
        ]

    @pytest.mark.usefixtures("sales")
    async def test_a_keyword_in_another_script_is_a_warning(self, api: httpx.AsyncClient) -> None:
        document = sla_policy()
        document["classification"][0]["keywords"].append("complaint")
        saved = await save_definition(api, document, publish=False)
        assert saved["warnings"] == [{"path": "/classification/0/keywords/1",
                                      "message": "'complaint' has no letters of the 'ru' rule's script"}]

    async def test_an_unknown_kind_is_one_problem(self, api: httpx.AsyncClient) -> None:
        assert await problems(api, {"name": "x", "kind": "reminder_policy", "steps": []}) == [
            ("/kind", "unknown kind 'reminder_policy' (use one of: sequence, lead_policy, sla_policy)")]

    @pytest.mark.usefixtures("sales")
    async def test_scores_are_finite_numbers(self, api: httpx.AsyncClient) -> None:
        """NaN, Infinity (Python's JSON reads them) and points that add up past a float's range
        would qualify nobody, or everybody, or answer a null score: refused with their paths."""
        document = lead_policy(thresholds={"qualified": float("nan"), "disqualified": float("-inf")})
        document["engagement"] = {"reply": float("inf"), "form.submitted": 1e308}
        response = await api.post("/v1/definitions", content=json.dumps(document),
                                  headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == [
            "/engagement/reply", "/engagement/form.submitted", "/thresholds/qualified", "/thresholds/disqualified"]

    @pytest.mark.usefixtures("sales")
    async def test_an_sla_past_what_a_clock_can_count_is_refused(self, api: httpx.AsyncClient) -> None:
        """A budget of 270,000 years overflows the calendar when the SLA is planned (a 500 at
        preview, a failing activity in a run): refused at save with its path."""
        document = lead_policy()
        document["sla"] = {"within": "P99999999D", "ladder": [{"at": {"after": "P999999999D"}, "notify": ["manager"]}]}
        assert [path for path, _ in await problems(api, document)] == ["/sla/within", "/sla/ladder/0/at"]
        support = sla_policy()
        support["priorities"]["normal"]["resolution"] = "P99999999D"
        assert [path for path, _ in await problems(api, support)] == ["/priorities/normal/resolution"]

    @pytest.mark.usefixtures("sales")
    async def test_a_bad_key_is_named_even_when_it_looks_like_a_validator(self, api: httpx.AsyncClient) -> None:
        """Before: ``function-x`` was dropped from the path as if pydantic had added it."""
        document = lead_policy(engagement={"function-x": 1, "literal[y]": 2})
        assert [path for path, _ in await problems(api, document)] == [
            "/engagement/function-x/[key]", "/engagement/literal[y]/[key]"]

    @pytest.mark.usefixtures("sales")
    async def test_a_name_keeps_its_kind(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/definitions", json=lead_policy("welcome_sequence"))
        assert (response.status_code, response.json()["detail"]) == (
            409, "'welcome_sequence' is a sequence; a lead_policy needs another name")


class TestReadListDiff:
    @pytest.mark.usefixtures("sales")
    async def test_list_filters_by_kind(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, lead_policy())
        await save_definition(api, sla_policy())
        by_kind = {}
        for kind in ("lead_policy", "sla_policy", "sequence"):
            response = await api.get("/v1/definitions", params={"kind": kind})
            by_kind[kind] = {d["name"] for d in response.json()["items"]}
        assert by_kind["lead_policy"] == {"default_leads", "inbound_leads"}  # the built-in one too
        assert by_kind["sla_policy"] == {"support", "support_sla"}  # support_sla: the built-in
        assert "welcome_sequence" in by_kind["sequence"] and not by_kind["sequence"] & {"inbound_leads", "support"}
        bad = await api.get("/v1/definitions", params={"kind": "reminder"})
        assert (bad.status_code, [e["path"] for e in bad.json()["errors"]]) == (422, ["/query/kind"])

    @pytest.mark.usefixtures("sales")
    async def test_versions_publish_and_diff_of_a_policy(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, lead_policy())
        changed = copy.deepcopy(lead_policy())
        changed["thresholds"]["qualified"] = 60
        changed["fit"] = [{**changed["fit"][1], "points": 20},
                          {"id": "phone", "when": "contact.phone != none", "points": 5}]
        changed["assignment"]["rules"][0]["id"] = "magyar"
        second = await save_definition(api, changed, publish=False)
        assert (second["version"], second["active"]) == (2, False)
        diff = (await api.get("/v1/definitions/inbound_leads/diff", params={"from": 1, "to": 2})).json()
        assert diff["fields"] == ["assignment", "fit", "thresholds"]
        assert "-  qualified: 40.0\n+  qualified: 60.0\n" in diff["unified"]
        assert (diff["steps"], diff["rules"]) == ({"added": [], "removed": [], "changed": []}, {
            "fit": {"added": ["phone"], "removed": ["big"], "changed": ["web"]},
            "assignment/rules": {"added": ["magyar"], "removed": ["hu"], "changed": []}})
        published = await api.post("/v1/definitions/inbound_leads/publish", json={})
        assert (published.json()["version"], published.json()["active"]) == (2, True)


class TestSchema:
    async def test_the_union_and_one_kind(self, api: httpx.AsyncClient) -> None:
        union = (await api.get("/v1/definitions/schema")).json()
        assert {ref["$ref"].rsplit("/", 1)[1] for ref in union["oneOf"]} == {
            "SequenceDefinition", "LeadPolicyDefinition", "SlaPolicyDefinition"}
        lead = (await api.get("/v1/definitions/schema", params={"kind": "lead_policy"})).json()
        assert (lead["title"], lead["properties"]["kind"]["const"]) == ("LeadPolicyDefinition", "lead_policy")
        assert set(lead["required"]) == {"name", "kind", "thresholds", "assignment"}


class TestEnrollment:
    @pytest.mark.usefixtures("sales")
    async def test_enrolling_in_a_lead_policy_is_refused(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, lead_policy())
        contact = await create_contact(api)
        response = await enroll(api, "inbound_leads", contact["id"])
        assert (response.status_code, response.json()["detail"]) == (
            409, "'inbound_leads' is a lead_policy definition, not a sequence")


class TestPreview:
    """``POST /v1/definitions/{name}/preview`` answers by the definition's kind."""

    async def test_a_lead_policy_scores_assigns_and_plans_the_sla(self, api: httpx.AsyncClient, engine: Engine) -> None:
        eszter = await create_user(api, "rep", "Eszter")
        await api.patch(f"/v1/users/{eszter['id']}", json={"time_zone": "Europe/Budapest"})
        await api.put("/v1/teams/sales", json={"members": [{"user_id": eszter["id"]}], "calendar": "budapest_office"})
        await save_definition(api, lead_policy(
            fit=[{"id": "big", "when": "contact.attributes.company_size >= 100", "points": 40}],
            engagement={"pricing.viewed": 20}, thresholds={"qualified": 50, "disqualified": 0}, disqualify=[]))
        # Thursday 2 April 2026, 16:30 in Budapest: Good Friday, the weekend and Easter Monday follow.
        response = await api.post("/v1/definitions/inbound_leads/preview", json={
            "contact": {"name": "Anna", "locale": "hu", "time_zone": "Europe/Budapest",
                        "attributes": {"company_size": 250}},
            "lead": {"source": "web", "events": [{"event": "pricing.viewed", "at": "2026-04-02T14:30:00Z"}]},
            "start": "2026-04-02T14:30:00Z"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["kind"], answer["definition"], answer["version"], answer["contact"]["name"]) == (
            "lead_policy", "inbound_leads", 1, "Anna")
        assert (answer["stage"], answer["score"]["score"], answer["owner_id"]) == ("qualified", 60.0, eszter["id"])
        assert [c["rule"] for c in answer["score"]["changes"]] == ["fit:big", "engagement:pricing.viewed"]
        assert (answer["sla"]["calendar"], answer["sla"]["due_at"]) == ("budapest_office", "2026-04-07T07:30:00+00:00")
        with session_scope(engine) as session:  # nothing written: no lead, the rotation not moved
            assert [session.exec(select(func.count()).select_from(t)).one() for t in (Lead, TeamRotation)] == [0, 0]

    @pytest.mark.usefixtures("sales")
    @pytest.mark.parametrize(("body", "path"), [
        ({"lead": {"events": [{"event": "reply", "at": "0001-01-01T00:00:00+01:00"}]}}, "/lead/events/0/at"),
        ({"lead": {"source": "web"}, "start": "9999-12-31T23:30:00Z"}, "/start"),
    ])
    async def test_an_instant_no_clock_can_plan_from_is_a_422(self, api: httpx.AsyncClient, body: dict[str, Any],
                                                              path: str) -> None:
        """Before: an OverflowError (500) converting the event to UTC or planning the SLA past 9999."""
        await save_definition(api, lead_policy())
        response = await api.post("/v1/definitions/inbound_leads/preview", json={
            "contact": {"attributes": {"employees": 100}}, "start": "2026-01-02T10:00:00Z", **body})
        assert response.status_code == 422, response.text
        assert [e["path"] for e in response.json()["errors"]] == [path]

    @pytest.mark.usefixtures("sales")
    async def test_a_stored_contact_below_the_threshold_is_nurtured(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, lead_policy())
        contact = await create_contact(api, attributes={"employees": 10})
        response = await api.post("/v1/definitions/inbound_leads/preview", json={"contact_id": contact["id"]})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["stage"], answer["nurture"], answer["owner_id"], answer["contact"]["id"]) == (
            "nurturing", {"sequence": "lead_nurture"}, None, contact["id"])

    @pytest.mark.usefixtures("sales")
    async def test_an_sla_policy_classifies_and_promises_times(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, sla_policy())
        # Wednesday 19 Aug 2026 17:30 in Budapest, after closing; 20 and 21 Aug are closed (a
        # public holiday and its bridge day), then the weekend: the clock starts on Monday 24 Aug.
        response = await api.post("/v1/definitions/support/preview", json={
            "contact": {"locale": "ru", "time_zone": "Europe/Moscow"},
            "ticket": {"subject": "Заказ 100482", "text": "Пишу с жалобой на курьера", "channel": "email"},
            "start": "2026-08-19T15:30:00Z"})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["kind"], answer["definition"], answer["category"], answer["priority"], answer["team"]) == (
            "sla_policy", "support", "complaint", "high", "sales")
        assert answer["classification"]["words"] == {"complaint_ru": ["жалобой"]}
        # 1 working hour from Monday 09:00 Budapest = 10:00 Budapest = 08:00 UTC = 11:00 Moscow.
        assert answer["first_response"] == {"at": "2026-08-24T08:00:00+00:00",
                                            "local": "2026-08-24T11:00:00+03:00", "zone": "Europe/Moscow"}
        given = await api.post("/v1/definitions/support/preview", json={
            "contact": {}, "ticket": {"text": "hello", "priority": "normal"}, "start": "2026-08-19T15:30:00Z"})
        assert (given.json()["priority"], given.json()["category"]) == ("normal", "general")

    @pytest.mark.usefixtures("sales")
    async def test_fields_of_another_kind_are_named(self, api: httpx.AsyncClient) -> None:
        await save_definition(api, lead_policy())
        response = await api.post("/v1/definitions/inbound_leads/preview", json={
            "contact": {}, "data": {"x": 1}, "ticket": {"subject": "Help"}})
        assert response.status_code == 422
        assert [(e["path"], e["message"]) for e in response.json()["errors"]] == [
            ("/data", "data is for a sequence; 'inbound_leads' is a lead_policy"),
            ("/ticket", "ticket is for a sla_policy; 'inbound_leads' is a lead_policy")]
        sequence = await api.post("/v1/definitions/welcome_sequence/preview", json={
            "contact": {}, "lead": {"source": "web"}})
        assert [e["path"] for e in sequence.json()["errors"]] == ["/lead"]
        bad = await api.post("/v1/definitions/inbound_leads/preview", json={
            "contact": {}, "lead": {"events": [{"event": "Bad Name", "at": "2026-04-02T14:30:00"}], "x": 1}})
        assert sorted(e["path"] for e in bad.json()["errors"]) == [
            "/lead/events/0/at", "/lead/events/0/event", "/lead/x"]


class TestConcurrentSaves:
    """Saves of one name at once, on both databases: each gets its own version, or the name's
    kind refuses it (409), never a 500 from the (name, version) unique constraint."""

    @pytest.fixture
    async def client(self, settings: Settings, any_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
        from api.app import create_app

        seed_builtins(any_engine, settings)  # the lead policy's nurture sequence

        transport = httpx.ASGITransport(app=create_app(settings, engine=any_engine))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
            yield api

    async def test_eight_versions_at_once(self, client: httpx.AsyncClient) -> None:
        rita = await create_user(client, "rep", "Rita")
        assert (await client.put("/v1/teams/sales", json={"members": [{"user_id": rita["id"]}]})).status_code == 201
        documents = [lead_policy(description=f"draft {n}") for n in range(8)]
        answers = await asyncio.gather(*(client.post("/v1/definitions", json=d) for d in documents))
        assert [a.status_code for a in answers] == [201] * 8, [a.text for a in answers if a.status_code != 201]
        assert sorted(a.json()["version"] for a in answers) == list(range(1, 9))

    async def test_two_kinds_of_one_new_name_at_once(self, client: httpx.AsyncClient) -> None:
        rita = await create_user(client, "rep", "Rita")
        assert (await client.put("/v1/teams/sales", json={"members": [{"user_id": rita["id"]}]})).status_code == 201
        documents = [make("both", description=f"draft {n}") for n in range(3) for make in (lead_policy, sla_policy)]
        answers = await asyncio.gather(*(client.post("/v1/definitions", json=d) for d in documents))
        assert sorted({a.status_code for a in answers}) == [201, 409], [a.text for a in answers]
        kinds = {a.json()["kind"] for a in answers if a.status_code == 201}
        assert len(kinds) == 1
