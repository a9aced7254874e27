from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AccessDep, EngineDep
from api.schemas.common import Cursor, Id, Page, decode_cursor
from api.schemas.runs import DeliveryPublic
from followthrough.models.vocab import Channel, LedgerState
from followthrough.store import ledger
from followthrough.store.db import session_scope

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])


@router.get("", response_model=Page[DeliveryPublic], summary="The delivery ledger, newest first")
def list_deliveries(
    engine: EngineDep,
    access: AccessDep,
    contact_id: Annotated[Id | None, Query()] = None,
    run_id: str | None = None,
    channel: Channel | None = None,
    status: LedgerState | None = None,
    cursor: Cursor = None,
    limit: int = Query(50, ge=1, le=200),
) -> Page[DeliveryPublic]:
    with session_scope(engine) as session:
        rows = ledger.list_page(
            session, contact_id=contact_id, run_id=run_id, channel=channel, state=status,
            before=decode_cursor(cursor), limit=limit + 1, visible=access.read,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=[DeliveryPublic.of(r) for r in rows], next_cursor=str(rows[-1].id) if more else None)
