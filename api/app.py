"""The FastAPI app factory. The API never sends a message: it validates, writes CRM records and
starts, signals, queries or cancels workflows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from temporalio.client import Client

from api import access, errors
from api.deps import DB_SESSION_SLOTS, get_temporal
from api.limits import InputLimits, RateLimiter, WriteRateLimit
from api.media import require_json_body
from api.routers import (
    action_links,
    calendars,
    contacts,
    definitions,
    deliveries,
    health,
    holds,
    inbound,
    leads,
    outbox,
    policy,
    preferences,
    preview,
    reports,
    runs,
    sequences,
    suppressions,
    tasks,
    teams,
    templates,
    tickets,
    unsubscribe,
    users,
    webhooks,
)
from api.services.inbound_email import smtp_callback
from api.services.task_actions import TaskLinkActions
from api.services.ticket_actions import TicketLinkActions
from api.temporal import TemporalGateway
from channels.inbound.smtp_listener import InboundSmtpListener
from followthrough.action_links import ActionRegistry
from followthrough.bootstrap import seed_builtins
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store.db import make_engine, upgrade
from followthrough.store.templates import DbTemplateSource

#: Where the docs pages' scripts, styles and icon are served (public, like the docs).
DOCS_ASSETS = "/docs/assets"


def create_app(
    settings: Settings, *, engine: Engine | None = None, temporal_client: Client | None = None
) -> FastAPI:
    engine = engine or make_engine(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(upgrade, engine)
        await asyncio.to_thread(seed_builtins, engine, settings)
        listener = None
        if settings.inbound_smtp_port is not None:  # inbound mail straight to us, no parser service
            callback = smtp_callback(engine, _app.state.temporal.client, trust_relay=settings.inbound_trust_relay,
                                     settings=settings)
            listener = InboundSmtpListener(callback, settings.api_host, settings.inbound_smtp_port)
            await listener.start()
        app.state.inbound_smtp = listener
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()

    # /docs and /redoc with their scripts served from the locked fastapi-offline wheel, never a
    # CDN: the docs work on a machine without the internet, and no page leaks its visitors.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="Followthrough",
        version="1",
        summary="Durable CRM follow-through: sequences, reminders, escalations, one delivery door.",
        lifespan=lifespan,
        # Who may do what (api/access.py), then: a JSON route takes only JSON (api/media.py).
        dependencies=[Depends(access.authorize), Depends(require_json_body)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.db_slots = asyncio.Semaphore(DB_SESSION_SLOTS)
    app.state.temporal = TemporalGateway(settings, temporal_client)
    app.state.renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)
    # What one-click links in messages do, by subject kind (tickets' surveys register later).
    app.state.action_registry = ActionRegistry()
    app.state.action_registry.register(TaskLinkActions(engine, app.state.temporal))
    app.state.action_registry.register(TicketLinkActions(engine, app.state.temporal))
    app.state.rate_limiter = RateLimiter(settings)
    errors.install(app)
    # The last added runs first: rate limits turn a flood away before any body is read.
    app.add_middleware(InputLimits, body_limit=settings.max_body_bytes,
                       object_limit=settings.max_object_bytes)
    app.add_middleware(WriteRateLimit, limiter=app.state.rate_limiter)
    for module in (health, contacts, users, teams, templates, calendars, preview, definitions, sequences, runs, deliveries,
                   outbox, webhooks, preferences, suppressions, holds, policy, unsubscribe, action_links, inbound,
                   tasks, tickets, leads, reports):
        app.include_router(module.router)
    access.check_routes(app)
    errors.document(app, public=access.PUBLIC, temporal=get_temporal)
    return app
