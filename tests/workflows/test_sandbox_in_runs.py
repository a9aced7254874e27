"""An expression that runs away inside a run is an error recorded on its step, and the run goes
on: the workflow task never hangs (followthrough/dsl/sandbox.py, on the time-skipping server)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from channels.outbox import OutboxHandle
from followthrough.settings import Settings
from followthrough.store import contacts
from followthrough.store.db import session_scope
from tests.workflows.test_sequence_steps import _contact, _run, _save

TOO_LONG = "repeating 10 characters or items 1000000000 times is too large (at most 262144)"


class TestRunawayExpressions:
    async def test_the_errors_are_recorded_on_the_steps(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
        outbox: OutboxHandle,
    ) -> None:
        _save(engine, "runaway", [
            {"id": "grow", "type": "set", "target": "contact.attributes.x",
             "expression": "data.s * data.n"},
            {"id": "check", "type": "if", "condition": "(data.s * data.n)|length > 0",
             "then": "yes", "else": "no"},
            {"id": "yes", "type": "exit", "reason": "yes"},
            {"id": "no", "type": "exit", "reason": "no"},
        ])
        out = await _run(ts_env, engine, edge_settings, "runaway", _contact(engine),
                         data={"s": "abcdefghij", "n": 10**9})
        assert out.steps == [
            ("grow", "failed", f"expression error: BudgetExceeded: {TOO_LONG}"),
            ("check", "done", f"condition error: BudgetExceeded: {TOO_LONG} -> no"),
            ("no", "done", "no"),
        ]
        assert (out.result.status, out.result.reason) == ("completed", "no")


class TestAttributeLimit:
    async def test_a_set_step_cannot_grow_the_attributes_past_the_limit(
        self, ts_env: WorkflowEnvironment, engine: Engine, edge_settings: Settings,
        outbox: OutboxHandle,
    ) -> None:
        _save(engine, "grows", [
            {"id": "small", "type": "set", "target": "contact.attributes.a", "value": "ok"},
            {"id": "big", "type": "set", "target": "contact.attributes.b",
             "expression": "data.s * 2000"},
            {"id": "end", "type": "exit", "reason": "done"},
        ])
        contact_id = _contact(engine)
        out = await _run(ts_env, engine, edge_settings, "grows", contact_id,
                         data={"s": "abcdefghij"})
        assert out.steps == [
            ("small", "done", "a = 'ok'"),
            ("big", "failed", "the contact's attributes would be 20017 bytes as JSON; the limit is "
                              "16384 bytes"),
            ("end", "done", "done"),
        ]
        with session_scope(engine) as session:
            assert contacts.get(session, contact_id).attributes == {"a": "ok"}
