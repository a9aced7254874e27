from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import EngineDep, TemporalDep
from followthrough.store.db import ping

router = APIRouter(tags=["health"])

State = Literal["ok", "unavailable"]


class Health(BaseModel):
    status: State
    database: State
    temporal: State


@router.get("/healthz", summary="200 when the database and Temporal answer, 503 otherwise",
            response_model=Health,
            responses={503: {"model": Health, "description": "The database or Temporal is down"}})
async def healthz(engine: EngineDep, temporal: TemporalDep) -> JSONResponse:
    database_ok, temporal_ok = await asyncio.gather(asyncio.to_thread(ping, engine), temporal.healthy())
    body = Health(
        status="ok" if database_ok and temporal_ok else "unavailable",
        database="ok" if database_ok else "unavailable",
        temporal="ok" if temporal_ok else "unavailable",
    )
    return JSONResponse(body.model_dump(), status_code=200 if database_ok and temporal_ok else 503)
