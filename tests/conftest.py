"""Shared fixtures: settings, databases (SQLite and PostgreSQL), Temporal servers, the API app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.dependencies import models as fastapi_dependency_models
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from channels.outbox import (
    OutboxHandle,
    OutboxSmtpServer,
    OutboxStore,
    OutboxTwilioServer,
    outbox_settings,
)
from followthrough.bootstrap import seed_builtins
from followthrough.codec import encrypting_converter, parse_keys
from followthrough.devserver import temporal_cli, temporal_test_server
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store.db import make_engine, session_scope, upgrade
from followthrough.store.policy import put_config
from followthrough.temporal import SEARCH_ATTRIBUTES, register_search_attributes
from tests.support import postgres
from tests.support.sqlite_templates import SqliteTemplates, sqlite_file

# Property tests judge values, not speed: on a loaded 2-core CI machine hypothesis's default
# 200 ms deadline per example failed good examples (a flaky decay property). No deadline, for all.
hypothesis_settings.register_profile("followthrough", deadline=None)
hypothesis_settings.load_profile("followthrough")

ADMIN_KEY = "test-admin-key-0123456789"
SECRET_KEY = "test-secret-key-0123456789"
#: A fixed payload key, so every Temporal fixture encrypts like production does.
PAYLOAD_KEY = "dGVzdC1wYXlsb2FkLWtleS0wMTIzNDU2Nzg5YWJjZGU="
TEST_CONVERTER = encrypting_converter(parse_keys(PAYLOAD_KEY))


@dataclass
class LiveStack:
    api: httpx.AsyncClient
    settings: Settings
    engine: Engine
    outbox: OutboxHandle
    temporal: Client
    worker: Worker


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'ft.sqlite3'}",
        "admin_api_key": ADMIN_KEY,
        "secret_key": SECRET_KEY,
        "payload_keys": PAYLOAD_KEY,
        "templates_dir": PROJECT_ROOT / "templates",
        "definitions_dir": PROJECT_ROOT / "definitions",
        "public_base_url": "http://testserver",
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "test-auth-token",
        "smtp_host": "127.0.0.1",
        "task_queue": f"ft-test-{os.getpid()}",
        "temporal_address": "127.0.0.1:9",  # nothing listens: tests that need Temporal pass a client
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def sqlite_templates(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplates:
    """Migrated (and seeded) SQLite databases made once, copied per test (support/sqlite_templates.py)."""
    return SqliteTemplates(tmp_path_factory.mktemp("sqlite-templates"))


@pytest.fixture
def engine(settings: Settings, sqlite_templates: SqliteTemplates) -> Iterator[Engine]:
    """A migrated SQLite database with the built-in templates and definitions, of this test's own."""
    path = sqlite_file(settings.resolved_database_url)
    if path is not None:
        sqlite_templates.copy(path, seed_from=settings)
    engine = make_engine(settings.resolved_database_url)
    if path is None:
        upgrade(engine)
        seed_builtins(engine, settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session: FT_TEST_POSTGRES_URL, else the local one at
    127.0.0.1:5432, else a throwaway server of our own (tests/support/postgres.py). A server
    that refuses the login, or a named one that does not answer, fails with what to do."""
    named = os.environ.get(postgres.VARIABLE)
    url = named or postgres.DEFAULT_URL
    found = postgres.probe(url)
    if found.status == "ok":
        _POSTGRES.servers.add(postgres.describe(url))
        yield url
        return
    if found.status == "refused":
        pytest.fail(postgres.refused_message(url, found), pytrace=False)
    if named:
        pytest.fail(postgres.unreachable_message(url, found), pytrace=False)
    with postgres.throwaway_server(tmp_path_factory.mktemp("postgres")) as own:
        _POSTGRES.servers.add("a throwaway server (pgserver), none answered at 127.0.0.1:5432")
        yield own


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of our own on the session's PostgreSQL server (one per xdist worker)."""
    with postgres.temporary_database(postgres_admin_url, os.environ.get("PYTEST_XDIST_WORKER", "")) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The storage tests run on both databases."""
    if request.param == "sqlite":
        # A migrated database of the test's own, copied from the session's template.
        request.getfixturevalue("sqlite_templates").copy(tmp_path / "store.sqlite3")
        engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield engine
        engine.dispose()
    else:
        # Migrated once per session (postgres_engine); each test starts from empty tables.
        request.node.ft_postgres = True
        engine = request.getfixturevalue("postgres_engine")
        from sqlmodel import SQLModel

        names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        yield engine


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """One real Temporal dev server (SQLite in memory) for API, visibility and update tests."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()),
        data_converter=TEST_CONVERTER,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def start_time_skipping() -> WorkflowEnvironment:
    """A time-skipping test server of its own (its clock starts at the wall clock's time; a
    test that needs another instant skips to it before starting anything)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(temporal_test_server()),
        data_converter=TEST_CONVERTER,
    )
    # The test server cannot list search attributes, only add them.
    await register_search_attributes(env.client, "default", [k.name for k in SEARCH_ATTRIBUTES])
    return env


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, for workflow logic with long timers. Shared by a whole
    xdist worker: a workflow task nobody polls for (a worker of the wrong role) stops its clock
    for every later test, whose sleeps then time out; test that on ``dev_env``."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture
async def api(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API app without Temporal (its gateway connects lazily; tests that need Temporal use
    ``api_with_temporal``), authenticated as admin."""
    from api.app import create_app

    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as client:
        yield client


@pytest.fixture
def outbox() -> Iterator[OutboxHandle]:
    """The loopback edge: a real SMTP server and a Twilio-compatible HTTP server, capturing."""
    store = OutboxStore()
    smtp = OutboxSmtpServer(store, "127.0.0.1", 0)
    twilio = OutboxTwilioServer(
        store, "127.0.0.1", 0, account_sid="AC" + "1" * 32, auth_token="test-auth-token"
    )
    smtp.start()
    twilio.start()
    handle = OutboxHandle(store=store, smtp=smtp, twilio=twilio)
    yield handle
    handle.stop()


@pytest.fixture
def edge_settings(settings: Settings, outbox: OutboxHandle, engine: Engine) -> Settings:
    """Settings whose channels talk to the loopback outbox through the real clients.

    Runs that send use a policy without quiet hours: those depend on the wall clock, and the
    tests of quiet hours set their own policy."""
    with session_scope(engine) as session:
        put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
    return outbox_settings(settings, outbox)


@pytest.fixture
async def live(
    dev_env: WorkflowEnvironment, edge_settings: Settings, engine: Engine, outbox: OutboxHandle
) -> AsyncIterator[LiveStack]:
    """API + worker on the real dev server, channels on the loopback outbox."""
    from api.app import create_app
    from tests.support.stack import running_worker

    settings = edge_settings.model_copy(update={"task_queue": f"ft-live-{uuid.uuid4().hex[:12]}"})
    app = create_app(settings, engine=engine, temporal_client=dev_env.client)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with running_worker(dev_env.client, settings, engine) as worker:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as client:
            yield LiveStack(client, settings, engine, outbox, dev_env.client, worker)
    await terminate_open_runs(engine, dev_env.client)


#: FastAPI's module-level caches of how each dependency and endpoint is called (4,096 entries
#: each). A test's app has closures of its own (its docs pages, our dependencies), so the caches
#: kept hundreds of apps alive, each with its engine and its connection pool: an xdist
#: worker ended a run holding 8 million objects, its last garbage collection took 7-9 s, and
#: execnet interrupted that worker's exit with SIGINT (a KeyboardInterrupt in every CI log).
_FASTAPI_CALLABLE_CACHES = [
    getattr(fastapi_dependency_models, name) for name in dir(fastapi_dependency_models)
    if name.endswith("_cached") and hasattr(getattr(fastapi_dependency_models, name), "cache_clear")
]


@pytest.fixture(autouse=True)
def _release_apps_after_each_test() -> Iterator[None]:
    """Lets each test's FastAPI app (and the engine it holds) go when the test ends."""
    yield
    for cached in _FASTAPI_CALLABLE_CACHES:
        cached.cache_clear()


@pytest.fixture(autouse=True)
async def _close_runs_left_on_the_time_skipping_server(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every test on the shared time-skipping server: close the workflows it left open.
    Their timers would otherwise fire whenever a later test skips far ahead, as workflow tasks
    nobody polls for, and a server with work nobody polls for stops skipping time (the later
    test's sleep times out). Both fixtures are asked for here, before the test, so that they
    are torn down after this."""
    if "ts_env" not in request.fixturenames or "engine" not in request.fixturenames:
        yield
        return
    env: WorkflowEnvironment = request.getfixturevalue("ts_env")
    engine: Engine = request.getfixturevalue("engine")
    yield
    await terminate_open_runs(engine, env.client)


async def terminate_open_runs(engine: Engine, client: Client) -> None:
    """Every test has its own database but they share one dev server, so contact and task ids
    (and with them business-key workflow ids) repeat across tests: close what a test left open."""
    from sqlmodel import select
    from temporalio.service import RPCError

    from followthrough.models.vocab import FINAL_TASK_STATES, LeadStage
    from followthrough.store.tables import Lead, Run, Task, Ticket

    with session_scope(engine) as session:
        # Every run, not only those whose row says running: a run records its end (an activity)
        # one workflow task before its workflow closes, and a test that stops its worker in
        # between leaves the workflow open under a business key the next test reuses.
        ids = [r.workflow_id for r in session.exec(select(Run))]
        # Task ids repeat across tests too (task-1, ...).
        ids += [t.workflow_id for t in session.exec(select(Task)) if t.state not in FINAL_TASK_STATES]
        ids += [t.workflow_id for t in session.exec(select(Ticket)) if t.status != "closed"]  # ticket-1, ...
        ids += [lead.workflow_id for lead in session.exec(select(Lead))
                if lead.stage not in (LeadStage.CONVERTED, LeadStage.DISQUALIFIED, LeadStage.CLOSED)]
    for workflow_id in ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test finished")
        except RPCError:
            pass  # already closed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (they wait tens of seconds on the wall clock: heartbeat timeouts,
    processes killed and restarted) run first, so under xdist they overlap with the rest
    instead of being the run's tail. The order is otherwise kept (and the same in every worker)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: What the PostgreSQL half of the run used, for the closing summary: in an xdist worker, that
#: worker's share (sent to the controller at its end); in the controller, the whole run's.
_POSTGRES = postgres.Tally()


def _uses_postgres(item: pytest.Item) -> bool:
    names = getattr(item, "fixturenames", ())
    return bool(getattr(item, "ft_postgres", False)) or "postgres_url" in names or "postgres_admin_url" in names


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call" and _uses_postgres(item):
        _POSTGRES.record(report.passed)
    return report


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its share of the PostgreSQL tally to the controller. The controller
    fails a green run in which fewer tests ran than were collected: xdist's scope-based modes
    (loadscope, loadfile, loadgroup) key tests by node id and silently run one of several that
    share an id (Schemathesis' test_api_conforms_to_its_openapi items do)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["ft_postgres"] = _POSTGRES.as_dict()
    ran = sum(int(count) for count, _ in _WORKERS.values())
    if _WORKERS and session.exitstatus == pytest.ExitCode.OK and ran != session.testscollected:
        _WORKERS["lost"] = [session.testscollected - ran, 0.0]
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent when xdist is not loaded
def pytest_testnodedown(node: object, error: object) -> None:
    """The controller adds up each worker's share (a worker that crashed sent none; its tests
    are reported as failed by xdist itself)."""
    _POSTGRES.add(getattr(node, "workeroutput", {}).get("ft_postgres", {}))


#: In the xdist controller: per worker, the tests it ran and the seconds they took (setup, call
#: and teardown), to see whether the run is balanced.
_WORKERS: dict[str, list[float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    node = getattr(report, "node", None)  # set by xdist on the reports a controller receives
    if node is None:
        return
    share = _WORKERS.setdefault(node.gateway.id, [0, 0.0])
    share[0] += report.when == "teardown"  # one per test, whatever its outcome
    share[1] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(_POSTGRES.line())
    lost = _WORKERS.pop("lost", None)
    if _WORKERS:
        terminalreporter.write_line("Workers: " + ", ".join(
            f"{name} {int(count)} tests in {seconds:.0f} s" for name, (count, seconds) in sorted(_WORKERS.items())))
    if lost:
        terminalreporter.write_line(f"{int(lost[0])} collected tests never ran (see pytest_sessionfinish)", red=True)
