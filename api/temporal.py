"""The API's lazy Temporal connection: the API starts (and answers 503) while Temporal is down."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import Client

from followthrough.errors import ServiceUnavailable
from followthrough.settings import Settings
from followthrough.temporal import connect


class TemporalGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=5)
                except Exception as exc:
                    raise ServiceUnavailable(
                        f"Temporal at {self._settings.resolved_temporal_address} is not answering"
                    ) from exc
        return self._client

    async def healthy(self) -> bool:
        try:
            client = await self.client()
            await client.service_client.check_health(timeout=timedelta(seconds=2))
            return True
        except Exception:
            return False
