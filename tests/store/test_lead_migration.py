"""Migration 0017: the contact attribute ``lead_score`` of the time before leads becomes a lead
each, with its score, a stage by it and the explanation, pinned to the default policy."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine
from sqlmodel import select

from followthrough.store import contacts, definitions
from followthrough.store.db import alembic_config, session_scope
from followthrough.store.tables import Lead, LeadEvent


def _back_and_forth(engine: Engine) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015_leads_tickets")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _contacts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as session:
        made = {}
        for name, attributes in (("hot", {"lead_score": 72}), ("warm", {"lead_score": 20.5}),
                                 ("none", {}), ("text", {"lead_score": "high"})):
            made[name] = contacts.create(session, {"name": name, "email": f"{name}@example.test",
                                                   "attributes": attributes}).id
        return made


class TestLeadScoresMigrate:
    def test_without_a_policy_the_old_line_of_50_decides_and_version_1_is_pinned(self, any_engine: Engine) -> None:
        made = _contacts(any_engine)
        _back_and_forth(any_engine)
        with session_scope(any_engine) as session:
            rows = {r.contact_id: r for r in session.exec(select(Lead))}
            [event] = [e for e in session.exec(select(LeadEvent)) if e.lead_id == rows[made["hot"]].id]
        assert set(rows) == {made["hot"], made["warm"]}
        hot, warm = rows[made["hot"]], rows[made["warm"]]
        assert (hot.stage, hot.score, hot.policy_name, hot.policy_version, hot.source) == (
            "qualified", 72, "default_leads", 1, "migration")
        assert (warm.stage, warm.score, warm.workflow_id) == ("nurturing", 20.5, f"lead-{warm.id}")
        assert (event.kind, event.rule, event.points) == ("score", "migration:lead_score", 72)

    def test_a_published_default_policy_is_pinned_with_its_thresholds(self, any_engine: Engine) -> None:
        made = _contacts(any_engine)
        policy = {"name": "default_leads", "kind": "lead_policy", "thresholds": {"qualified": 80, "disqualified": 25},
                  "assignment": {"default_team": "sales"}}
        with session_scope(any_engine) as session:
            definitions.save(session, "default_leads", "lead_policy", policy, publish=True)
            definitions.save(session, "default_leads", "lead_policy", {**policy, "description": "v2"}, publish=True)
        _back_and_forth(any_engine)
        with session_scope(any_engine) as session:
            rows = {r.contact_id: r for r in session.exec(select(Lead))}
        assert (rows[made["hot"]].stage, rows[made["hot"]].policy_version) == ("nurturing", 2)
        assert rows[made["warm"]].stage == "disqualified"
