"""The suppression list: addresses nothing is sent to. Managers and admins only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import SessionDep
from api.schemas.common import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Id, Page, decode_cursor, page_of
from api.schemas.suppressions import SuppressionCreate, SuppressionPublic
from followthrough.models.vocab import Channel
from followthrough.store import suppressions

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


@router.get("")
def list_suppressions(
    session: SessionDep,
    channel: Annotated[Channel | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[SuppressionPublic]:
    """Newest first, optionally one channel's."""
    rows = suppressions.list_page(session, channel, before=decode_cursor(cursor), limit=limit + 1)
    return page_of(rows, limit, SuppressionPublic.model_validate)


@router.post("", status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "Already suppressed", "model": SuppressionPublic}})
def add_suppression(
    body: SuppressionCreate, session: SessionDep, response: Response
) -> SuppressionPublic:
    """Suppress an address (201); an address already suppressed answers 200 with its entry."""
    row, created = suppressions.add(
        session, body.channel, body.address, reason=body.reason, source="api"
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return SuppressionPublic.model_validate(row)


@router.delete("/{suppression_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_suppression(
    suppression_id: Annotated[Id, Path(description="The entry's id.")], session: SessionDep
) -> Response:
    """Allow the address again (consent still applies)."""
    suppressions.remove(session, suppression_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
