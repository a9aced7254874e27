"""Lead intake (issue 12): leads per second through ``POST /v1/leads`` to an assigned owner, and
lead created -> owner notified (p50/p95), side by side with a bare Temporal workflow that only
sends the notification.

    python -m bench.leads [--leads 200] [--reps 10] [--concurrency 10]

One process, on purpose small: a Temporal dev server (``temporal server start-dev``, in memory),
the API app over ASGI (httpx, no sockets), the production worker (``worker.build_worker``) and the
aiosmtpd outbox as threads of this process, CRM database SQLite. Each lead is a new contact with a
budget the policy scores over its threshold, so every lead is qualified, assigned by weighted
round robin among ``--reps`` reps (no calendar: always at work), given a ``call`` task, and its
owner is told by email (``lead_assigned``). Notified = the owner's email captured at the SMTP
server (``time.time()``), matched to the lead by the contact's name in the subject.

The bare side: a workflow with one activity that sends the same kind of email straight through
``aiosmtplib`` (no database, no ledger, no scoring, no assignment), started once per lead by the
same client; notified = its email captured. Exit status 1 when a lead is not notified exactly
once. Figures are appended to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from bench.bare_notify import BareNotifyWorkflow, bare_notify
from bench.reminders import percentile
from bench.run import RESULTS, _machine, _temporal_version
from bench.stack import TimedStore
from channels.outbox import OutboxHandle, OutboxSmtpServer, OutboxTwilioServer, outbox_settings
from channels.outbox.store import Capture
from followthrough.bootstrap import seed_builtins
from followthrough.devserver import temporal_cli
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store import definitions, teams, users
from followthrough.store.db import make_engine, session_scope, upgrade
from followthrough.store.policy import put_config
from followthrough.temporal import SEARCH_ATTRIBUTES

console = Console()
ADMIN_KEY = "bench-admin-key-0123456789"
LEAD_SUBJECT = re.compile(r"^New lead: Bench Lead (\d+) ")
BARE_SUBJECT = re.compile(r"^Bare lead (\d+)$")
POLICY = {
    "name": "default_leads", "kind": "lead_policy",
    "fit": [{"id": "budget", "when": "(lead.attributes.budget or 0) >= 1000", "points": 60}],
    "thresholds": {"qualified": 50},
    "assignment": {"default_team": "bench", "sticky": False},
    "sla": {"within": "PT1H", "business": True},
}


class NotifiedStore(TimedStore):
    """Notes when each lead's notification (either side's) was first captured."""

    def __init__(self) -> None:
        super().__init__()
        self.lead: dict[int, float] = {}
        self.bare: dict[int, float] = {}
        self.repeats = 0

    def append(self, capture: Capture) -> Capture:
        now = time.time()
        for pattern, seen in ((LEAD_SUBJECT, self.lead), (BARE_SUBJECT, self.bare)):
            match = pattern.match(capture.subject or "")
            if match is not None:
                number = int(match[1])
                if number in seen:
                    self.repeats += 1
                else:
                    seen[number] = now
        return super().append(capture)


# -- the run --------------------------------------------------------------------------------


def _setup(settings: Settings, reps: int) -> None:
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    seed_builtins(engine, settings)
    with session_scope(engine) as session:
        put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
        definitions.save(session, "default_leads", "lead_policy", POLICY, publish=True)
        ids = [users.create(session, name=f"Bench Rep {i}", email=f"rep-{i}@bench.example", role="rep")[0].id
               for i in range(reps)]
        teams.put(session, "bench", members_in=[(i or 0, 1) for i in ids], manager_id=None, calendar=None)
    engine.dispose()


async def _leads(api: httpx.AsyncClient, count: int, concurrency: int) -> tuple[dict[int, float], float]:
    gate = asyncio.Semaphore(concurrency)
    sent: dict[int, float] = {}

    async def one(n: int) -> None:
        async with gate:
            sent[n] = time.time()
            response = await api.post("/v1/leads", json={
                "contact": {"name": f"Bench Lead {n}", "email": f"lead-{n}@bench.example"},
                "source": "bench", "attributes": {"budget": 5000}})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/leads: {response.status_code} {response.text[:300]}")

    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(count)))
    return sent, time.monotonic() - started


async def _wait(seen: dict[int, float], count: int, within: float) -> None:
    """Until ``count`` notifications were seen, or ``within`` seconds (polled: the SMTP server
    records them on its own thread)."""
    deadline = time.monotonic() + within
    while len(seen) < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def _run(args: argparse.Namespace) -> int:
    from activities import ActivityDeps
    from api.app import create_app
    from channels.registry import build_channels
    from followthrough.rendering import Renderer
    from followthrough.store.templates import DbTemplateSource
    from worker import build_worker

    work = Path(tempfile.mkdtemp(prefix="ft-leads-"))
    store = NotifiedStore()
    smtp = OutboxSmtpServer(store, "127.0.0.1", 0)
    twilio = OutboxTwilioServer(store, "127.0.0.1", 0, account_sid="AC" + "1" * 32, auth_token="t")
    smtp.start()
    twilio.start()
    outbox = OutboxHandle(store=store, smtp=smtp, twilio=twilio)
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(temporal_cli()),
                                                data_converter=pydantic_data_converter,
                                                search_attributes=SEARCH_ATTRIBUTES, dev_server_log_level="error")
    loadavg = " ".join((await asyncio.to_thread(Path("/proc/loadavg").read_text)).split()[:3])
    try:
        settings = outbox_settings(Settings(
            _env_file=None, data_dir=work, database_url=f"sqlite:///{work / 'ft.sqlite3'}",  # type: ignore[call-arg]
            admin_api_key=ADMIN_KEY, secret_key="bench-secret-key-0123456789",
            templates_dir=PROJECT_ROOT / "templates", definitions_dir=PROJECT_ROOT / "definitions",
            task_queue=f"bench-leads-{uuid.uuid4().hex[:8]}", log_level="WARNING"), outbox)
        await asyncio.to_thread(_setup, settings, args.reps)
        engine = make_engine(settings.resolved_database_url)
        renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)
        deps = ActivityDeps(settings=settings, engine=engine, renderer=renderer, channels=build_channels(settings))
        app = create_app(settings, engine=engine, temporal_client=env.client)
        bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with (build_worker(env.client, settings, deps),
                    Worker(env.client, task_queue=bare_queue, workflows=[BareNotifyWorkflow],
                           activities=[bare_notify]),
                    httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers,
                                      timeout=60) as api):
            console.log(f"{args.leads} leads through POST /v1/leads, {args.concurrency} in flight")
            sent, posting = await _leads(api, args.leads, args.concurrency)
            await _wait(store.lead, args.leads, args.timeout)
            lead_s = max(store.lead.values(), default=time.time()) - min(sent.values())
            console.log("the bare side: one workflow per lead that only sends the notification")
            bare_sent: dict[int, float] = {}
            gate = asyncio.Semaphore(args.concurrency)

            async def bare(n: int) -> None:
                async with gate:
                    bare_sent[n] = time.time()
                    await env.client.start_workflow("BareNotifyWorkflow", [n, smtp.port],
                                                    id=f"bare-{bare_queue}-{n}", task_queue=bare_queue)

            await asyncio.gather(*(bare(n) for n in range(args.leads)))
            await _wait(store.bare, args.leads, args.timeout)
            bare_s = max(store.bare.values(), default=time.time()) - min(bare_sent.values())
            await asyncio.sleep(3)  # a late duplicate would show up here
        await deps.channels.aclose()
        engine.dispose()
    finally:
        await env.shutdown()
        outbox.stop()
        shutil.rmtree(work, ignore_errors=True)
    lead_lat = [store.lead[n] - sent[n] for n in sent if n in store.lead]
    bare_lat = [store.bare[n] - bare_sent[n] for n in bare_sent if n in store.bare]
    missing = (args.leads - len(lead_lat)) + (args.leads - len(bare_lat))
    problems = ([f"{missing} notifications missing"] if missing else []) + (
        [f"{store.repeats} duplicate notifications"] if store.repeats else [])
    ms = lambda values, q: f"{percentile(values, q) * 1000:.0f}" if values else "—"  # noqa: E731
    rows = [
        ("leads", f"{args.leads}", f"{args.leads}"),
        ("POST /v1/leads answered (s), rate (leads/s)", f"{posting:.1f}, {args.leads / posting:.1f}", "—"),
        ("first request -> last owner notified (s)", f"{lead_s:.1f}", f"{bare_s:.1f}"),
        ("throughput to a notified owner (leads/s)", f"{args.leads / lead_s:.1f}", f"{args.leads / bare_s:.1f}"),
        ("created -> owner notified p50 (ms)", ms(lead_lat, 50), ms(bare_lat, 50)),
        ("created -> owner notified p95 (ms)", ms(lead_lat, 95), ms(bare_lat, 95)),
        ("notified", f"{len(lead_lat)}", f"{len(bare_lat)}"),
        ("invariants (each notified once)", "FAIL: " + "; ".join(problems) if problems else "hold", ""),
    ]
    table = Table("measure", "Followthrough", "bare Temporal", title=f"lead intake, {args.leads} leads")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        text = "\n".join([
            f"## {now} — lead intake: POST /v1/leads to a notified owner, {args.leads} leads", "",
            f"- Machine: {_machine()} — the shared 2-core box other jobs use too",
            f"- Temporal: {_temporal_version()}; `temporal server start-dev` in memory",
            f"- Load average before the run: {loadavg}",
            "- Stack: one process — API over ASGI, the production worker, aiosmtpd outbox; CRM DB SQLite; "
            f"{args.reps} reps in one team (always at work), {args.concurrency} requests in flight",
            "- Followthrough: intake row + run + `lead-<id>` (score, assign with the rotation locked, `call` task "
            "with its own workflow, `lead_assigned` through the door); bare: one workflow + one send activity",
            f"- Command: `python -m bench.leads --leads {args.leads} --reps {args.reps} --concurrency "
            f"{args.concurrency}`", "",
            "| measure | Followthrough | bare Temporal |", "|---|---:|---:|",
            *[f"| {a} | {b} | {c} |" for a, b, c in rows], ""])
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        console.print(f"appended to {RESULTS}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leads", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the notifications")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
