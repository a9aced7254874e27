"""The stored policy document on SQLite and PostgreSQL: defaults, replace, durations round-trip."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from followthrough.models.vocab import Category
from followthrough.policy.contact_policy import Cap, CategoryPolicy, PolicyConfig
from followthrough.store import policy
from followthrough.store.db import session_scope
from followthrough.store.tables import PolicySettings


class TestConfig:
    def test_defaults_when_nothing_is_saved(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            assert policy.get_config(session) == PolicyConfig()

    def test_put_then_get_round_trips_and_stores_iso_durations(self, any_engine: Engine) -> None:
        config = PolicyConfig(categories={
            **PolicyConfig().categories,
            Category.SALES: CategoryPolicy(caps=[Cap(limit=1, window=timedelta(hours=12))]),
        })
        with session_scope(any_engine) as session:
            policy.put_config(session, PolicyConfig())
        with session_scope(any_engine) as session:
            policy.put_config(session, config)
        with session_scope(any_engine) as session:
            assert policy.get_config(session) == config
            row = session.get(PolicySettings, 1)
            assert row is not None
            assert row.document["categories"]["sales"]["caps"] == [{"limit": 1, "window": "PT12H"}]
            assert row.document["categories"]["marketing"]["caps"][1] == {"limit": 3, "window": "P7D"}
