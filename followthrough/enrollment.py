"""Enrolling a contact in a sequence: the run row is written first, then the workflow starts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from followthrough import ids
from followthrough.calendar import PinnedHolidays, pin_holidays
from followthrough.errors import Conflict, NotFound, ServiceUnavailable
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import SEQUENCE_BEHAVIOUR, SequenceInput
from followthrough.models.vocab import RunStatus
from followthrough.settings import Settings
from followthrough.store import calendars, contacts, definitions, leads, runs, timeline
from followthrough.store.db import session_scope
from followthrough.store.tables import DefinitionVersion, Run
from followthrough.temporal import (
    CONTACT_ID,
    DEFINITION,
    RUN_ID,
    RUN_KIND,
    PayloadTooLarge,
    refused_for_size,
)

SEQUENCE_WORKFLOW = "SequenceWorkflow"


def _claim(
    engine: Engine, name: str, contact_id: int, data: dict[str, Any], history_limit: int | None = None,
    entity: str | None = None,
) -> tuple[Run, bool, SequenceInput | None]:
    with session_scope(engine) as session:
        contact = contacts.read(session, contact_id)  # a row, no ORM object (issue 9)
        version = _active_sequence(session, name)
        # The run pins its calendars like its version: later edits do not move its waits.
        pinned, missing = calendars.resolve(session, calendars.referenced(version.document))
        if missing:
            raise Conflict(f"sequence '{name}' v{version.version} uses calendar(s) that do not "
                           f"exist: {', '.join(missing)}")
        run, created = runs.claim(
            session, kind="sequence", workflow_id=ids.sequence_workflow_id(name, contact_id),
            active_key=ids.sequence_active_key(name, contact_id), contact_id=contact_id,
            definition_name=name, definition_version=version.version, data=data, entity=entity,
        )
        if not created:
            return run, False, None
        timeline.append(
            session, contact_id=contact_id, kind="run.started", run_id=run.id,
            summary=f"enrolled in {name} v{version.version}",
        )
        start = SequenceInput(
            run_id=run.id, contact_id=contact_id, definition_name=name,
            definition_version=version.version, definition=version.document, data=data,
            calendars=pinned, holidays=holidays_for(pinned), history_limit=history_limit,
            contact=_carried(contacts.snapshot(contact, leads.open_score(session, contact_id))),
            behaviour=SEQUENCE_BEHAVIOUR,
        )
        return run, True, start


#: A contact larger than this (its attributes, as JSON) is not carried in the run's input: the
#: run loads it itself, so a large contact never makes the start itself too large to accept.
CARRIED_CONTACT_MAX = 64 * 1024


def _carried(snapshot: ContactSnapshot) -> ContactSnapshot | None:
    """The snapshot the run starts from, or None: the run loads the contact (a local activity)."""
    return snapshot if len(snapshot.model_dump_json()) <= CARRIED_CONTACT_MAX else None


def _active_sequence(session: Session, name: str) -> DefinitionVersion:
    version = definitions.active(session, name)
    if version is None:
        if definitions.latest_version(session, name) is None:
            raise NotFound(f"sequence '{name}' does not exist")
        raise Conflict(f"sequence '{name}' has no published version")
    if version.kind != "sequence":
        raise Conflict(f"'{name}' is a {version.kind} definition, not a sequence")
    return version


def sequence_ready(engine: Engine, name: str) -> None:
    """Raises what an enrollment in ``name`` would for the sequence itself (404 none, 409 not
    published or not a sequence), before any contact is looked at."""
    with session_scope(engine) as session:
        _active_sequence(session, name)


def _discard(engine: Engine, run_id: str) -> None:
    with session_scope(engine) as session:
        runs.discard(session, run_id)


def holidays_for(calendar_documents: dict[str, dict[str, Any]], year: int | None = None) -> dict[str, PinnedHolidays]:
    """The public holidays a run's calendars may need: their countries, from last year to two
    years ahead (a continuation pins further years when the run lives longer)."""
    year = year or datetime.now(UTC).year
    countries = [str(d["country"]) for d in calendar_documents.values() if d.get("country")]
    return pin_holidays(countries, year - 1, year + 2)


def _mark_failed(engine: Engine, run_id: str, reason: str) -> None:
    with session_scope(engine) as session:
        runs.finish(session, run_id, RunStatus.FAILED, reason)


async def enroll(
    engine: Engine, client_factory: Any, settings: Settings, name: str, contact_id: int,
    data: dict[str, Any], entity: str | None = None,
) -> tuple[Run, bool]:
    """Returns (run, created). While a run is active for (sequence, contact) it is returned
    unchanged: ten concurrent enrollments give one run. ``entity``: the lead or ticket that owns
    the run (cancelling it cancels the run)."""
    run, created, start = await asyncio.to_thread(
        _claim, engine, name, contact_id, data, settings.workflow_history_limit, entity)
    if not created or start is None:
        return run, False
    client: Client | None = None
    try:
        client = await client_factory()
        await start_sequence(client, settings, run, start)
    except Exception as exc:
        if refused_for_size(exc):
            # A definite refusal: nothing started, so the row goes (a `failed` run would say
            # that something ran), and the caller learns that its input is too large.
            await asyncio.to_thread(_discard, engine, run.id)
            raise PayloadTooLarge(
                f"Temporal refused to start the run: its input (the enrollment data with the "
                f"definition) is too large ({exc}). Send less data.") from exc
        # The start may have reached the server although its answer did not reach us: then
        # the run is alive and its row must stay (it receives events and records its end).
        if client is not None and await _started(client, run):
            return run, True
        await asyncio.to_thread(_mark_failed, engine, run.id, f"could not start: {exc}")
        if isinstance(exc, ServiceUnavailable):
            raise
        raise ServiceUnavailable(f"the run could not be started: {exc}") from exc
    return run, True


async def _started(client: Client, run: Run) -> bool:
    """Whether the workflow under the run's business key is this run's."""
    try:
        description = await client.get_workflow_handle(run.workflow_id).describe()
    except Exception:  # unknown counts as not started: the row is marked failed
        return False
    return description.typed_search_attributes.get(RUN_ID) == run.id


async def start_sequence(client: Client, settings: Settings, run: Run, start: SequenceInput) -> WorkflowHandle:
    """Start by business key. The start fails when a workflow under the key is running: that
    is this run (a start whose answer was lost, retried), which is kept; or an earlier run that
    is closing (its row already ended), which we wait for before starting ours. Only then is
    the workflow described (issue 9: a describe after every start was one more server call per
    enrollment)."""
    attributes = TypedSearchAttributes([
        SearchAttributePair(CONTACT_ID, str(start.contact_id)),
        SearchAttributePair(RUN_KIND, "sequence"),
        SearchAttributePair(DEFINITION, start.definition_name),
        SearchAttributePair(RUN_ID, run.id),
    ])
    for _ in range(5):
        try:
            return await client.start_workflow(
                SEQUENCE_WORKFLOW, start, id=run.workflow_id, task_queue=settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=attributes,
            )
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(run.workflow_id)
        description = await handle.describe()
        owner = description.typed_search_attributes.get(RUN_ID)
        if owner in (None, run.id):
            return handle
        try:
            await asyncio.wait_for(handle.result(), timeout=10)
        except Exception:
            pass
        await asyncio.sleep(0.1)
    raise ServiceUnavailable(f"workflow id {run.workflow_id} is held by another run")
