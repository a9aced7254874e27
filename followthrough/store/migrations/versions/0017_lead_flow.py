"""lead flow: existing scores (the contact attribute lead_score) become leads

Before issue 12 a lead was only the contact attribute ``lead_score`` that ``set`` steps wrote.
Every contact with a numeric ``lead_score`` and no lead gets one lead row, source ``migration``,
with that score and a stage by it, pinned to the default lead policy:

- a published ``default_leads`` lead policy exists: its active version, and the stage by its
  thresholds (``qualified`` at or above ``thresholds.qualified``, ``disqualified`` at or below
  ``thresholds.disqualified``, else ``nurturing``);
- none yet (the usual case: the built-in is seeded right after the migrations): version 1 of
  ``default_leads``, the version seeding publishes, and the stage by 50, the line the old
  ``lead_nurture`` handed leads to sales at.

The rows are records (score, stage, explanation event): no workflow runs for them until the lead
is taken in again (``PUT /v1/leads/by-external-id``, a ``lead`` step). The attribute stays, so
nothing reading it breaks. Downgrade removes the migrated rows.

Revision ID: 0017_lead_flow
Revises: 0016_worker_liveness
Create Date: 2026-12-03 17:10:00
"""

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0017_lead_flow'
down_revision = '0016_worker_liveness'
branch_labels = None
depends_on = None

DEFAULT_POLICY = "default_leads"
#: The old hand-off line of ``lead_nurture`` (``lead.score >= 50``).
OLD_THRESHOLD = 50.0

contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("attributes", sa.JSON))
definitions = sa.table("definitions", sa.column("name", sa.String), sa.column("version", sa.Integer),
                       sa.column("kind", sa.String), sa.column("document", sa.JSON),
                       sa.column("published_at", sa.DateTime(timezone=True)))
leads = sa.table("leads", sa.column("id", sa.Integer), sa.column("contact_id", sa.Integer),
                 sa.column("source", sa.String), sa.column("attributes", sa.JSON), sa.column("stage", sa.String),
                 sa.column("score", sa.Float), sa.column("scored_at", sa.DateTime(timezone=True)),
                 sa.column("policy_name", sa.String), sa.column("policy_version", sa.Integer),
                 sa.column("workflow_id", sa.String), sa.column("sla_breaches", sa.Integer),
                 sa.column("reassignments", sa.Integer), sa.column("qualified_at", sa.DateTime(timezone=True)),
                 sa.column("closed_at", sa.DateTime(timezone=True)),
                 sa.column("created_at", sa.DateTime(timezone=True)), sa.column("updated_at", sa.DateTime(timezone=True)))
lead_events = sa.table("lead_events", sa.column("lead_id", sa.Integer), sa.column("kind", sa.String),
                       sa.column("rule", sa.String), sa.column("points", sa.Float), sa.column("score", sa.Float),
                       sa.column("detail", sa.JSON), sa.column("key", sa.String),
                       sa.column("at", sa.DateTime(timezone=True)))


def _policy(bind: Any) -> tuple[int, float, float | None]:
    """(version, qualified threshold, disqualify line) of the default policy."""
    query = (sa.select(definitions.c.version, definitions.c.document)
             .where(definitions.c.name == DEFAULT_POLICY, definitions.c.kind == "lead_policy",
                    definitions.c.published_at.is_not(None))
             .order_by(definitions.c.published_at.desc(), definitions.c.version.desc()))
    row = bind.execute(query).first()
    if row is None:
        return 1, OLD_THRESHOLD, None
    thresholds = (row.document or {}).get("thresholds") or {}
    return row.version, float(thresholds.get("qualified", OLD_THRESHOLD)), thresholds.get("disqualified")


def _stage(score: float, qualified: float, disqualified: float | None) -> str:
    if disqualified is not None and score <= float(disqualified):
        return "disqualified"
    return "qualified" if score >= qualified else "nurturing"


def upgrade() -> None:
    bind = op.get_bind()
    version, qualified, disqualified = _policy(bind)
    have = {row.contact_id for row in bind.execute(sa.select(leads.c.contact_id))}
    now = datetime.now(UTC)
    for contact in bind.execute(sa.select(contacts.c.id, contacts.c.attributes).order_by(contacts.c.id)).all():
        score = (contact.attributes or {}).get("lead_score")
        if contact.id in have or isinstance(score, bool) or not isinstance(score, int | float):
            continue
        stage = _stage(float(score), qualified, disqualified)
        result = bind.execute(leads.insert().values(
            contact_id=contact.id, source="migration", attributes={}, stage=stage, score=float(score),
            scored_at=now, policy_name=DEFAULT_POLICY, policy_version=version, workflow_id="",
            sla_breaches=0, reassignments=0, qualified_at=now if stage == "qualified" else None,
            closed_at=now if stage == "disqualified" else None, created_at=now, updated_at=now,
        ).returning(leads.c.id))
        lead_id = result.scalar_one()
        bind.execute(leads.update().where(leads.c.id == lead_id).values(workflow_id=f"lead-{lead_id}"))
        bind.execute(lead_events.insert().values(
            lead_id=lead_id, kind="score", rule="migration:lead_score", points=float(score), score=float(score),
            detail={"reason": "the contact attribute lead_score before leads existed", "stage": stage},
            key=f"lead-{lead_id}:migration", at=now))


def downgrade() -> None:
    bind = op.get_bind()
    migrated = sa.select(leads.c.id).where(leads.c.source == "migration")
    bind.execute(lead_events.delete().where(lead_events.c.lead_id.in_(migrated)))
    bind.execute(leads.delete().where(leads.c.source == "migration"))
