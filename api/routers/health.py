from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep, TemporalDep
from followthrough.store.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="200 when the database and Temporal answer, 503 otherwise")
async def healthz(engine: EngineDep, temporal: TemporalDep) -> JSONResponse:
    database_ok, temporal_ok = await asyncio.gather(asyncio.to_thread(ping, engine), temporal.healthy())
    body = {
        "status": "ok" if database_ok and temporal_ok else "unavailable",
        "database": "ok" if database_ok else "unavailable",
        "temporal": "ok" if temporal_ok else "unavailable",
    }
    return JSONResponse(body, status_code=200 if database_ok and temporal_ok else 503)
