"""The global contact policy document (``GET/PUT /v1/policy``), one row; defaults until saved."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from followthrough.policy.contact_policy import PolicyConfig
from followthrough.store.tables import PolicySettings, utcnow

_ROW_ID = 1


def get_config(session: Session) -> PolicyConfig:
    """The saved policy, or the defaults from the issue when none was saved."""
    row = session.get(PolicySettings, _ROW_ID)
    return PolicyConfig() if row is None else PolicyConfig.model_validate(row.document)


def put_config(session: Session, config: PolicyConfig) -> PolicyConfig:
    """Replace the policy; durations are stored as ISO-8601 strings (``P1D``)."""
    document = config.model_dump(mode="json")
    row = session.get(PolicySettings, _ROW_ID)
    if row is None:
        try:
            # Two first saves at once: the loser updates the winner's row instead.
            with session.begin_nested():
                session.add(PolicySettings(id=_ROW_ID, document=document, updated_at=utcnow()))
            return config
        except IntegrityError:
            row = session.get(PolicySettings, _ROW_ID, populate_existing=True)
            if row is None:
                raise
    row.document, row.updated_at = document, utcnow()
    session.add(row)
    session.flush()
    return config
