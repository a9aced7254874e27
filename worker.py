"""The Temporal worker: ``build_worker`` (shared with the tests) and ``run_worker`` (the process)."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities import ActivityDeps, build_activities
from channels.registry import build_channels
from followthrough.logging import configure_logging, get_logger
from followthrough.rendering import Renderer
from followthrough.run_watch import watch
from followthrough.settings import Settings
from followthrough.store.db import make_engine, upgrade
from followthrough.store.templates import DbTemplateSource
from followthrough.temporal import connect, missing_search_attributes
from workflows import WORKFLOWS

log = get_logger("worker")

#: SIGINT/SIGTERM let in-flight activities finish (a send in progress is delivered once).
GRACEFUL_SHUTDOWN = timedelta(seconds=25)
#: Heartbeats reach Temporal at least this often (the SDK's default is 80 % of the heartbeat
#: timeout): a cancellation reaches a running activity within seconds, and a long heartbeat
#: timeout (workflows/_support.py) is room for a loaded worker, not a slower heartbeat.
HEARTBEAT_THROTTLE = timedelta(seconds=3)


def build_deps(settings: Settings) -> ActivityDeps:
    engine = make_engine(settings.resolved_database_url)
    renderer = Renderer(DbTemplateSource(engine), settings.default_locale)
    return ActivityDeps(
        settings=settings, engine=engine, renderer=renderer, channels=build_channels(settings)
    )


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox the worker and the replay test share."""
    # Jinja2 (compiling a condition) loads modules lazily on first use: they must be the real,
    # already-imported package. Public holidays are pinned into each run's input, so workflow
    # code never asks the ``holidays`` package (its catalogs need file reads and locale calls).
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("jinja2")
    )


def build_worker(client: Client, settings: Settings, deps: ActivityDeps) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=build_activities(deps),
        activity_executor=ThreadPoolExecutor(max_workers=16),
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    configure_logging(settings.log_level)
    client = await connect(settings)
    missing = await missing_search_attributes(client, settings.temporal_namespace)
    if missing:
        raise SystemExit(
            f"Temporal namespace '{settings.temporal_namespace}' lacks search attributes: "
            f"{', '.join(missing)}. Register them, e.g. `temporal operator search-attribute "
            f"create --name {missing[0]} --type Keyword`."
        )
    deps = build_deps(settings)
    await asyncio.to_thread(upgrade, deps.engine)
    worker = build_worker(client, settings, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", task_queue=settings.task_queue, temporal=settings.resolved_temporal_address)
    async with worker:
        # Runs whose workflow task keeps failing are recorded on the runs table (run_watch).
        watcher = asyncio.create_task(watch(deps.engine, client, settings.run_check_interval))
        await stop.wait()
        watcher.cancel()
        log.info("worker stopping: letting in-flight activities finish")
    await deps.channels.aclose()
    log.info("worker stopped")
