from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from api.deps import SettingsDep
from channels.outbox import OutboxStore
from followthrough.errors import NotFound
from followthrough.models.vocab import Channel

router = APIRouter(prefix="/v1/outbox", tags=["dev outbox"])


@router.get("", summary="Messages captured by the dev outbox, newest first (404 when it is off)")
def list_outbox(
    settings: SettingsDep,
    channel: Channel | None = None,
    to: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    if not settings.outbox:
        raise NotFound("The dev outbox is off: messages go to the configured SMTP server and Twilio.")
    store = OutboxStore(settings.outbox_file)
    items = [c.to_json() for c in store.list(channel=channel, to=to, limit=limit)]
    return {"items": items, "next_cursor": None}
