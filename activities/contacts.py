"""Contact activities for sequence steps: read the contact, ``set`` an attribute, ``start``
another sequence for the contact."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from followthrough.contact_fields import serialized_size
from followthrough.enrollment import enroll
from followthrough.errors import Conflict, NotFound
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import (
    LoadContactInput,
    SetAttributeInput,
    StartSequenceInput,
    StartSequenceResult,
)
from followthrough.settings import Settings
from followthrough.store import contacts, leads, runs, timeline
from followthrough.store.db import read_scope, session_scope


class ContactActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self._engine = engine
        self._settings = settings

    # Synchronous local activities, on the worker's activity executor (see RunActivities).
    @activity.defn(name="load_contact")
    def load_contact(self, input: LoadContactInput) -> ContactSnapshot:
        return self._load(input)

    @activity.defn(name="set_contact_attribute")
    def set_attribute(self, input: SetAttributeInput) -> ContactSnapshot:
        """Idempotent: setting the value it already has changes nothing and records nothing."""
        return self._set(input)

    @activity.defn(name="start_sequence")
    async def start_sequence(self, input: StartSequenceInput) -> StartSequenceResult:
        """Enroll the contact in ``input.definition``. A retry finds the run it started (the
        workflow id is the business key ``seq-<definition>-<contact>``)."""

        async def client() -> Client:
            return activity.client()

        try:
            run, created = await enroll(self._engine, client, self._settings, input.definition,
                                        input.contact_id, dict(input.data))
        except (NotFound, Conflict) as exc:
            return StartSequenceResult(reason=exc.message)
        return StartSequenceResult(run_id=run.id, created=created)

    def _load(self, input: LoadContactInput) -> ContactSnapshot:
        # Step records the run hands over are written whether or not the contact still exists.
        missing: NotFound | None = None
        with (session_scope if input.steps else read_scope)(self._engine) as session:
            runs.record_steps(session, input.steps)
            try:
                return contacts.snapshot(contacts.read(session, input.contact_id),
                                         leads.open_score(session, input.contact_id))
            except NotFound as exc:
                missing = exc
        raise ApplicationError(missing.message, type="NotFound", non_retryable=True) from missing

    def _set(self, input: SetAttributeInput) -> ContactSnapshot:
        with session_scope(self._engine) as session:
            contact = contacts.get(session, input.contact_id)
            attributes = dict(contact.attributes or {})
            if input.key not in attributes or attributes[input.key] != input.value:
                attributes[input.key] = input.value
                size, limit = serialized_size(attributes), self._settings.max_object_bytes
                if size > limit:  # the limit the API holds contacts to holds for steps too
                    raise ApplicationError(
                        f"the contact's attributes would be {size} bytes as JSON; the limit is "
                        f"{limit} bytes", type="AttributesTooLarge", non_retryable=True)
                contacts.update(session, contact, {"attributes": attributes})
                timeline.record(
                    session, contact_id=input.contact_id, kind="contact.updated", run_id=input.run_id,
                    summary=f"{input.key} set to {input.value!r} by step {input.step_id}",
                    data={"key": input.key, "value": input.value},
                )
            return contacts.snapshot(contact)
