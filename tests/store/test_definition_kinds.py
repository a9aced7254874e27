"""The definitions store with every kind, and the look-ups full validation reads, on SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from followthrough.bootstrap import store_references
from followthrough.errors import Conflict
from followthrough.store import definitions, teams, users
from followthrough.store.db import session_scope

LEAD = {"name": "leads", "kind": "lead_policy"}
SEQUENCE = {"name": "hello", "kind": "sequence"}


class TestKinds:
    def test_list_by_kind_and_every_name_s_kind(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            definitions.save(session, "leads", "lead_policy", LEAD, publish=True)
            definitions.save(session, "leads", "lead_policy", {**LEAD, "description": "v2"}, publish=False)
            definitions.save(session, "hello", "sequence", SEQUENCE, publish=True)
            assert [(r.name, r.version, n) for r, n in definitions.list_latest(session, "lead_policy")] == [
                ("leads", 2, 2)]
            assert [r.name for r, _ in definitions.list_latest(session)] == ["hello", "leads"]
            assert definitions.kinds(session) == {"leads": "lead_policy", "hello": "sequence"}

    def test_a_name_keeps_its_kind(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            definitions.save(session, "hello", "sequence", SEQUENCE, publish=True)
            with pytest.raises(Conflict, match="^'hello' is a sequence; a lead_policy needs another name$"):
                definitions.save(session, "hello", "lead_policy", {**LEAD, "name": "hello"}, publish=False)


class TestReferences:
    def test_teams_with_member_counts_users_and_kinds(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            rita, _ = users.create(session, name="Rita", email=None, role="rep")
            olga, _ = users.create(session, name="Olga", email=None, role="rep")
            teams.put(session, "sales", members_in=[(rita.id, 2), (olga.id, 1)], manager_id=None,  # type: ignore[list-item]
                      calendar=None)
            teams.put(session, "empty", members_in=[], manager_id=rita.id, calendar=None)
            definitions.save(session, "leads", "lead_policy", LEAD, publish=False)
            refs = store_references(session)
        assert refs.teams == {"sales": 2, "empty": 0}
        assert refs.definitions == {"leads": "lead_policy"}
        assert set(refs.users or ()) == {rita.id, olga.id}
