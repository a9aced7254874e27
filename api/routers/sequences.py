from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy import Engine

from api.deps import AccessDep, EngineDep, SettingsDep, TemporalDep
from api.schemas.runs import (
    BatchEnrollmentCreate,
    BatchEnrollmentResult,
    EnrollmentCreate,
    RunPublic,
)
from followthrough.batch_enrollment import Outcome, Summary, enroll_many
from followthrough.dsl.schema import NAME_PATTERN
from followthrough.enrollment import enroll
from followthrough.store.db import session_scope
from followthrough.store.scope import Access

router = APIRouter(prefix="/v1/sequences", tags=["sequences"])

NDJSON = "application/x-ndjson"


@router.post(
    "/{name}/enrollments",
    response_model=RunPublic,
    status_code=201,
    responses={200: {"model": RunPublic, "description": "An active run exists: returned as is"}},
    summary="Enroll a contact in the sequence's published version",
)
async def create_enrollment(
    body: EnrollmentCreate,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    access: AccessDep,
    name: str = Path(pattern=NAME_PATTERN),
) -> JSONResponse:
    await asyncio.to_thread(_changeable, engine, access, body.contact_id)
    run, created = await enroll(engine, temporal.client, settings, name, body.contact_id, body.data)
    payload = RunPublic.of(run, created=created).model_dump(mode="json", exclude={"steps"})
    return JSONResponse(payload, status_code=201 if created else 200)


@router.post(
    "/{name}/enrollments/batch",
    response_model=BatchEnrollmentResult,
    responses={200: {
        "description": "One answer per contact and a summary. With `Accept: application/x-ndjson` "
                       "the answers stream as they are done, one JSON object a line (a "
                       "`BatchOutcome`, in completion order: `index` is its place in the "
                       "request), and a last line `{\"summary\": BatchSummary}`.",
        "content": {NDJSON: {"schema": {"type": "string"}}},
    }},
    summary="Enroll up to 1,000 contacts in the sequence's published version",
)
async def create_enrollments(
    body: BatchEnrollmentCreate,
    request: Request,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    access: AccessDep,
    name: str = Path(pattern=NAME_PATTERN),
) -> JSONResponse | StreamingResponse:
    """Each contact (by ``contact_id`` or ``external_id``) is enrolled exactly as by ``POST
    /v1/sequences/{name}/enrollments``: idempotent per contact, so repeating a batch creates
    nothing new. 16 enrollments run at a time. A contact that cannot be enrolled (unknown id,
    data too large for Temporal, Temporal down) gets its own ``problem``; the answer is still
    200. The sequence itself unknown (404) or unpublished (409) fails the whole batch before
    anything is enrolled. The batch counts as one write toward the key's rate limit."""
    outcomes = await enroll_many(engine, temporal.client, settings, name, body.items(), access.write)
    if NDJSON in request.headers.get("accept", ""):
        return StreamingResponse(_lines(outcomes), media_type=NDJSON)
    summary, done = Summary(), []
    async for outcome in outcomes:
        summary.add(outcome)
        done.append(outcome)
    done.sort(key=lambda o: o.index)
    return JSONResponse({"items": [o.to_json() for o in done], "summary": summary.to_json()})


def _changeable(engine: Engine, access: Access, contact_id: int) -> None:
    """404 for a contact the caller may not change (a rep: one they do not own)."""
    if not access.write.everything:
        with session_scope(engine) as session:
            access.write.contact(session, contact_id)


async def _lines(outcomes: AsyncIterator[Outcome]) -> AsyncIterator[bytes]:
    summary = Summary()
    async for outcome in outcomes:
        summary.add(outcome)
        yield _line(outcome.to_json())
    yield _line({"summary": summary.to_json()})


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode() + b"\n"
