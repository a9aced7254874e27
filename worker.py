"""The Temporal worker: ``build_worker`` (shared with the tests) and ``run_worker`` (the process)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import cache

import temporalio
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxRestrictions

from activities import ActivityDeps, build_activities
from channels.registry import build_channels
from followthrough.brief_schedule import sync_all
from followthrough.liveness import Liveness, heal
from followthrough.logging import configure_logging, get_logger
from followthrough.rendering import Renderer
from followthrough.run_watch import watch
from followthrough.sandbox import CompiledSandboxRunner
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store.db import make_engine, upgrade
from followthrough.store.templates import DbTemplateSource
from followthrough.temporal import connect, missing_search_attributes, process_runtime
from workflows import WORKFLOWS

log = get_logger("worker")

#: SIGINT/SIGTERM let in-flight activities finish (a send in progress is delivered once).
GRACEFUL_SHUTDOWN = timedelta(seconds=25)
#: Heartbeats reach Temporal at least this often (the SDK's default is 80 % of the heartbeat
#: timeout): a cancellation reaches a running activity within seconds, and a long heartbeat
#: timeout (workflows/_support.py) is room for a loaded worker, not a slower heartbeat.
HEARTBEAT_THROTTLE = timedelta(seconds=3)
#: How long a Python thread keeps the GIL while others wait for it (CPython's default: 5 ms).
#: Workflow activations and the deliveries' threads (database, rendering, provider SDKs) share
#: one interpreter in a worker of role all; an activation takes the GIL many times, and each
#: wait was up to 5 ms. At 1 ms the workflow task p99 of the benchmark's burst sat at or under
#: 100 ms in 10 pairs of 12 (5 of 8 at 5 ms), at no measurable cost in CPU (bench/RESULTS.md).
SWITCH_INTERVAL = 0.001
#: What the build id hashes: the code the worker runs, and the locked dependency versions.
BUILD_SOURCES = ("workflows", "activities", "channels", "followthrough", "uv.lock")


@cache
def build_id() -> str:
    """The worker's build id: a hash of our sources, uv.lock and the SDK version (a few ms).
    Without one the SDK hashes the bytecode of every loaded module (~1,600), which cost each
    start 0.15 s, and 3.5 s where no bytecode is cached (PYTHONDONTWRITEBYTECODE): issue 9."""
    digest = hashlib.sha256(temporalio.__version__.encode())
    for name in BUILD_SOURCES:
        root = PROJECT_ROOT / name
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root] if root.exists() else []:
            digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return "followthrough-" + digest.hexdigest()[:20]



def build_deps(settings: Settings) -> ActivityDeps:
    engine = make_engine(settings.resolved_database_url)
    renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)
    return ActivityDeps(
        settings=settings, engine=engine, renderer=renderer, channels=build_channels(settings)
    )


def workflow_runner() -> CompiledSandboxRunner:
    """The sandbox the worker and the replay test share."""
    # Jinja2 (compiling a condition) loads modules lazily on first use: they must be the real,
    # already-imported package. Public holidays are pinned into each run's input, so workflow
    # code never asks the ``holidays`` package (its catalogs need file reads and locale calls).
    # Its code strings are compiled once (followthrough/sandbox.py).
    return CompiledSandboxRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("jinja2")
    )


def build_worker(client: Client, settings: Settings, deps: ActivityDeps) -> Worker:
    """A worker of ``settings.worker_role``: workflow tasks and activities, or one of them.
    A ``workflows`` worker still runs the local activities its workflows call (the runs'
    bookkeeping); it only leaves the task queue's activities to the ``activities`` workers."""
    role = settings.worker_role
    workflows = role != "activities"
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS if workflows else [],
        activities=build_activities(deps),
        no_remote_activities=role == "workflows",
        # The synchronous activities (the runs' bookkeeping, local activities) run here, apart
        # from the event loop's default executor where deliveries queue their database work.
        activity_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bookkeeping"),
        workflow_runner=workflow_runner(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        build_id=build_id(),
        max_heartbeat_throttle_interval=HEARTBEAT_THROTTLE,
        # Open tasks wait hours for a reminder: an evicted one is replayed when its timer fires.
        max_cached_workflows=settings.worker_max_cached_workflows if workflows else 0,
    )


async def _prepare_channels(deps: ActivityDeps) -> None:
    """Build the deferred channel senders (Twilio SDK imports) off the event loop once the
    worker polls, so the first SMS does not import them on it; a failure here is retried by
    the first send that needs the sender, so it is only logged."""
    try:
        await asyncio.to_thread(deps.channels.prepare)
    except Exception as exc:
        log.warning("channel senders not built ahead", error=str(exc))


async def _sync_briefs(client: Client, settings: Settings, deps: ActivityDeps) -> None:
    """Every user's daily-brief Schedule, in step with the users table (idempotent). A failure
    is only logged: the next start, or the user's next change, puts it right."""
    try:
        await sync_all(client, settings, deps.engine)
    except Exception as exc:
        log.warning("brief schedules not synced", error=str(exc))


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully.

    A restarted worker heals the runs a crash left behind only once it polls, so everything
    before ``async with worker`` is kept short (issue 9: process start -> polling within 1.5 s,
    ``bench/startup.py``); what can wait (the Twilio senders) is done after."""
    configure_logging(settings.log_level)
    sys.setswitchinterval(SWITCH_INTERVAL)
    client = await connect(settings, process_runtime(settings.log_level, settings.worker_metrics_bind))
    missing = await missing_search_attributes(client, settings.temporal_namespace)
    if missing:
        log.error(
            f"Temporal namespace '{settings.temporal_namespace}' lacks search attributes: "
            f"{', '.join(missing)}. Register them, e.g. `temporal operator search-attribute "
            f"create --name {missing[0]} --type Keyword`."
        )
        raise SystemExit(2)
    deps = build_deps(settings)
    await asyncio.to_thread(upgrade, deps.engine)
    # Registered before any attempt can name this process; beats from here on.
    liveness = deps.liveness = Liveness(deps.engine, timedelta(seconds=settings.worker_silence))
    await asyncio.to_thread(liveness.start)
    worker = build_worker(client, settings, deps)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Declared dead by the others (silent too long): stop, its calls already cut off.
    liveness.on_lost = lambda: loop.call_soon_threadsafe(stop.set)
    async with worker:
        log.info("worker started", task_queue=settings.task_queue, role=settings.worker_role,
                 temporal=settings.resolved_temporal_address)
        # cli.worker() turned the cyclic GC off for the imports (a fifth of their CPU);
        # what start-up built lives as long as the process, so it leaves the GC's view.
        gc.freeze()
        gc.enable()
        # A workflows worker sends nothing (its local activities are bookkeeping).
        prepared = (asyncio.create_task(_prepare_channels(deps))
                    if settings.worker_role != "workflows" else None)
        briefs = asyncio.create_task(_sync_briefs(client, settings, deps))
        # Runs whose workflow task keeps failing are recorded on the runs table (run_watch).
        watcher = asyncio.create_task(watch(deps.engine, client, settings.run_check_interval))
        # The attempts dead worker processes left pending (a predecessor killed on this
        # machine: at once) are failed so that Temporal retries them now (followthrough/liveness.py).
        healer = asyncio.create_task(heal(liveness, client))
        await stop.wait()
        watcher.cancel()
        healer.cancel()
        if prepared is not None:
            await prepared
        await briefs
        log.info("worker stopping: letting in-flight activities finish")
    await asyncio.to_thread(liveness.stop)  # no attempt of this process runs any more
    await deps.channels.aclose()
    log.info("worker stopped")
