"""The global contact policy document (``GET/PUT /v1/policy``), one row; defaults until saved."""

from __future__ import annotations

import json
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from followthrough.policy.contact_policy import PolicyConfig
from followthrough.store.tables import PolicySettings, utcnow

_ROW_ID = 1


def get_config(session: Session) -> PolicyConfig:
    """The saved policy, or the defaults from the issue when none was saved."""
    row = session.get(PolicySettings, _ROW_ID)
    return PolicyConfig() if row is None else PolicyConfig.model_validate(row.document)


def read_config(session: Session) -> PolicyConfig:
    """``get_config`` for a reader that never changes what it gets (the door, once per message):
    the document read as a Core row, parsed once per distinct document (issue 9: validating it
    for every message). The object is shared: do not modify it."""
    document = session.connection().execute(_document_statement()).scalar_one_or_none()
    return _parsed(None if document is None else json.dumps(document, sort_keys=True))


@lru_cache(maxsize=1)
def _document_statement():  # type: ignore[no-untyped-def]
    table = PolicySettings.__table__  # type: ignore[attr-defined]
    return select(table.c.document).where(table.c.id == _ROW_ID)


@lru_cache(maxsize=8)
def _parsed(document: str | None) -> PolicyConfig:
    return PolicyConfig() if document is None else PolicyConfig.model_validate(json.loads(document))


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
