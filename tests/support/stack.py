"""One way to build a test worker: the production registry (``build_worker``) with real deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from activities import ActivityDeps
from channels.registry import build_channels
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store.templates import DbTemplateSource
from worker import build_worker


def make_deps(settings: Settings, engine: Engine) -> ActivityDeps:
    renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)
    return ActivityDeps(settings=settings, engine=engine, renderer=renderer,
                        channels=build_channels(settings))


@asynccontextmanager
async def running_worker(client: Client, settings: Settings, engine: Engine) -> AsyncIterator[Worker]:
    deps = make_deps(settings, engine)
    worker = build_worker(client, settings, deps)
    async with worker:
        yield worker
    await deps.channels.aclose()
