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


class TestReadConfig:
    """The door's reader: parsed once per distinct document, never stale."""

    def test_reads_what_get_config_reads_and_sees_every_change_at_once(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            assert policy.read_config(session) == PolicyConfig()
        for limit in (1, 2, 1):
            config = PolicyConfig(categories={
                **PolicyConfig().categories,
                Category.SALES: CategoryPolicy(caps=[Cap(limit=limit, window=timedelta(hours=12))]),
            })
            with session_scope(any_engine) as session:
                policy.put_config(session, config)
            with session_scope(any_engine) as session:
                assert policy.read_config(session) == policy.get_config(session) == config

    def test_the_same_document_is_parsed_once(self, any_engine: Engine) -> None:
        with session_scope(any_engine) as session:
            policy.put_config(session, PolicyConfig(categories={
                **PolicyConfig().categories, Category.SALES: CategoryPolicy(priority=7)}))
        with session_scope(any_engine) as session:
            first = policy.read_config(session)
        with session_scope(any_engine) as session:
            assert policy.read_config(session) is first
