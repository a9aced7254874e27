from __future__ import annotations

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.schemas.runs import EnrollmentCreate, RunPublic
from followthrough.dsl.schema import NAME_PATTERN
from followthrough.enrollment import enroll

router = APIRouter(prefix="/v1/sequences", tags=["sequences"])


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
    name: str = Path(pattern=NAME_PATTERN),
) -> JSONResponse:
    run, created = await enroll(engine, temporal.client, settings, name, body.contact_id, body.data)
    payload = RunPublic.of(run, created=created).model_dump(mode="json")
    return JSONResponse(payload, status_code=201 if created else 200)
