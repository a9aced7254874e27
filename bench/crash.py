"""Crash test: SIGKILL the worker repeatedly while contacts go through a 3-channel sequence.

    python -m bench.crash [--contacts 300] [--kills 5] [--category marketing|transactional|both]

On loopback, reusing the foundation benchmark's stack (``bench/stack.py``, ``bench/sides.py``):
a Temporal dev server, the API and the worker as child processes, the outbox SMTP and
Twilio-compatible servers as threads of this process. The policy is replaced (``PUT /v1/policy``)
by one without quiet hours or caps, so nothing is deferred. Per category, N contacts go through
email -> wait PT1S -> SMS -> wait PT1S -> voice; meanwhile the worker is SIGKILLed ``--kills``
times and restarted at once. The SMTP server delays its reply to DATA and the Twilio server its
answer (both capture first), so kills land between "the provider has it" and "we know it".

Messages are counted AT THE RECEIVING SERVERS (captures per recipient and channel), never from
our ledger, and compared with the ledger (``GET /v1/deliveries``, ``uncertain`` included):

- at-most-once (marketing): 0 duplicates;
- at-least-once (transactional): a duplicate only where the ledger says uncertain -> resent;
- both: 0 lost — every step is captured, skipped with a reason, or uncertain and reported.

Exit status 1 when an invariant fails. Figures are appended to ``bench/RESULTS.md``. Every child
process is stopped on any exit (and dies with this process: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.run import RESULTS, _machine, _temporal_version, temporal_state
from bench.sides import TEMPORAL_DB, FollowthroughSide, Recipient, recipients
from bench.stack import Children, Outbox, TimedStore, start_outbox
from bench.startup import identity, polls
from channels.outbox import OutboxTwilioServer

console = Console()
SETUP_CONCURRENCY = 10  # POST /v1/contacts at 50 in flight hit "database is locked" (RESULTS.md)
ENROLL_CONCURRENCY = 20
#: step id -> channel, in order; the waits between them are PT1S.
STEPS = {"welcome_email": "email", "followup_sms": "sms", "welcome_call": "voice"}
RESENT = "resent after an uncertain attempt"  # activities/door.py, Door.sent
AT_LEAST_ONCE = {"transactional", "service"}


def definition(category: str) -> dict[str, Any]:
    return {
        "name": f"crash_{category}",
        "kind": "sequence",
        "description": f"Crash test ({category}): email, 1 s, SMS, 1 s, call.",
        "category": category,
        "locales": ["en"],
        "steps": [
            {"id": "welcome_email", "type": "send", "channel": "email", "template": "welcome"},
            {"id": "pause_1", "type": "wait", "duration": "PT1S"},
            {"id": "followup_sms", "type": "send", "channel": "sms", "template": "welcome_followup"},
            {"id": "pause_2", "type": "wait", "duration": "PT1S"},
            {"id": "welcome_call", "type": "send", "channel": "voice", "template": "welcome_call"},
        ],
    }


# -- the stack -----------------------------------------------------------------------------------


class RestartableChildren(Children):
    """``Children`` that remember how each child was started, to SIGKILL and start it again."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir)
        self._argv: dict[str, tuple[tuple[str, ...], dict[str, str] | None]] = {}

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        self._argv[name] = (argv, env)
        return await super().spawn(name, *argv, env=env)

    async def sigkill(self, name: str) -> None:
        process = self.procs.pop(name)
        process.kill()  # SIGKILL: no shutdown hook runs, in-flight calls die mid-way
        await process.wait()

    async def respawn(self, name: str) -> asyncio.subprocess.Process:
        argv, env = self._argv[name]
        return await super().spawn(name, *argv, env=env)


class SlowTwilioServer(OutboxTwilioServer):
    """The outbox Twilio server with a fixed delay before each success answer (the message or
    call is already captured then, as Twilio would have created it)."""

    response_delay = 0.0
    resets = 0  # requests cut off by a killed client (its connections reset mid-request)

    def start(self) -> None:
        super().start()
        assert self._httpd is not None
        self._httpd.handle_error = self._client_gone  # type: ignore[method-assign]

    def _client_gone(self, request: object, client_address: object) -> None:
        self.resets += 1  # instead of a traceback on stderr per killed keep-alive connection

    def _hold(self) -> None:
        if self.response_delay:
            self._stopped.wait(self.response_delay)
        super()._hold()


# -- one phase (one category) --------------------------------------------------------------------


@dataclass
class Kill:
    at_s: float  # since the phase began
    in_flight: int  # ledger rows `pending` (provider call under way) just before the kill
    restart_s: float  # SIGKILL sent -> new worker process spawned
    polling_s: float | None = None  # new worker process spawned -> Temporal lists it as a poller
    recovered_s: float | None = None  # SIGKILL -> none of those rows `pending` any more


@dataclass
class Outcome:
    category: str
    contacts: int
    steps: int = 0
    captured: int = 0  # messages at the receiving servers
    sent: int = 0  # steps the ledger says sent/delivered and the server has
    uncertain: int = 0  # ledger `uncertain` at the end (reported, not resent)
    uncertain_received: int = 0  # ... of which the server did receive the message
    resent: int = 0  # ledger: uncertain -> resent (at-least-once)
    duplicates: int = 0  # extra captures of one (recipient, channel)
    duplicates_explained: int = 0  # ... on a row resent after an uncertain attempt
    skipped: int = 0
    failed: int = 0
    lost: int = 0
    lost_examples: list[str] = field(default_factory=list)
    stray: int = 0  # captures no step of this phase explains
    message_id_mismatch: int = 0  # email duplicates with different Message-IDs
    runs: Counter[str] = field(default_factory=Counter)
    kills: list[Kill] = field(default_factory=list)
    took_s: float = 0.0

    @property
    def at_least_once(self) -> bool:
        return self.category in AT_LEAST_ONCE

    def failures(self) -> list[str]:
        problems = []
        if self.lost:
            problems.append(f"{self.lost} lost: {', '.join(self.lost_examples[:5])}")
        if not self.at_least_once and self.duplicates:
            problems.append(f"{self.duplicates} duplicates in an at-most-once category")
        if self.duplicates - self.duplicates_explained:
            problems.append(f"{self.duplicates - self.duplicates_explained} duplicates not explained by the ledger")
        if self.at_least_once and self.uncertain:
            problems.append(f"{self.uncertain} uncertain rows never resent (at-least-once)")
        if self.message_id_mismatch:
            problems.append(f"{self.message_id_mismatch} email duplicates with a new Message-ID")
        if self.stray:
            problems.append(f"{self.stray} captures no step explains")
        if self.runs.get("running"):
            problems.append(f"{self.runs['running']} runs still running")
        return problems


async def _paged(http: httpx.AsyncClient, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | {"limit": 200} | ({"cursor": cursor} if cursor else {})
        response = await http.get(path, params=query)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def _running(http: httpx.AsyncClient, name: str) -> int:
    response = await http.get("/v1/runs", params={"status": "running", "definition": name, "limit": 200})
    response.raise_for_status()
    return len(response.json()["items"])


async def _killer(side: FollowthroughSide, children: RestartableChildren, store: TimedStore,
                  kills: int, every: float, began: float, done: asyncio.Event, out: list[Kill],
                  watchers: list[asyncio.Task[None]]) -> None:
    """SIGKILL and restart the worker ``kills`` times, ``every`` seconds apart, starting
    ``every`` seconds after the first message arrives; stops early when the phase is done."""
    assert side.http is not None
    while store.count == 0 and not done.is_set():  # noqa: ASYNC110 (the store fills from threads)
        await asyncio.sleep(0.05)
    for _ in range(kills):
        try:
            await asyncio.wait_for(done.wait(), timeout=every)
            return  # every run ended before this kill
        except TimeoutError:
            pass
        keys = await _pending(side.http)
        killed = time.monotonic()
        await children.sigkill("worker")
        process = await children.respawn("worker")
        kill = Kill(killed - began, len(keys), time.monotonic() - killed)
        out.append(kill)
        watchers.append(asyncio.create_task(_recovery(side.http, keys, killed, kill)))
        watchers.append(asyncio.create_task(_first_poll(side, process, kill)))
        console.log(f"kill {len(out)}: worker SIGKILLed with {len(keys)} calls in flight, restarted")


async def _pending(http: httpx.AsyncClient) -> set[str]:
    return {d["key"] for d in await _paged(http, "/v1/deliveries", {"status": "pending"})}


async def _first_poll(side: FollowthroughSide, process: asyncio.subprocess.Process, kill: Kill) -> None:
    """How long the restarted worker takes to poll (``bench/startup.py`` measures it alone)."""
    spawned = time.monotonic()
    while process.returncode is None:
        if await polls(side.client, side.task_queue, identity(process.pid)):
            kill.polling_s = time.monotonic() - spawned
            return
        await asyncio.sleep(0.02)


async def _recovery(http: httpx.AsyncClient, keys: set[str], killed: float, kill: Kill) -> None:
    """How long the rows caught ``pending`` by a kill stay so (until a retry marks them)."""
    while keys & await _pending(http):  # noqa: ASYNC110 (polling another process)
        await asyncio.sleep(0.5)
    kill.recovered_s = time.monotonic() - killed


async def phase(side: FollowthroughSide, children: RestartableChildren, store: TimedStore,
                category: str, people: list[Recipient], args: argparse.Namespace) -> Outcome:
    assert side.http is not None
    http = side.http
    name = f"crash_{category}"
    await side.save_and_publish(definition(category))
    console.log(f"{category}: creating {len(people)} contacts")
    await side.prepare(people, SETUP_CONCURRENCY)
    store.reset()
    outcome = Outcome(category, len(people))
    began = time.monotonic()
    done = asyncio.Event()
    watchers: list[asyncio.Task[None]] = []
    killer = asyncio.create_task(_killer(side, children, store, args.kills, args.kill_every, began, done,
                                         outcome.kills, watchers))
    run_ids: dict[str, str] = {}  # email -> run id
    gate = asyncio.Semaphore(ENROLL_CONCURRENCY)

    async def enroll(person: Recipient) -> None:
        async with gate:
            r = await http.post(f"/v1/sequences/{name}/enrollments",
                                json={"contact_id": side.contact_ids[person.email]})
        if r.status_code != 201:
            raise RuntimeError(f"enrollment: {r.status_code} {r.text[:200]}")
        run_ids[person.email] = r.json()["run_id"]

    try:
        console.log(f"{category}: enrolling {len(people)} contacts; {args.kills} kills every {args.kill_every:g} s")
        await asyncio.gather(*(enroll(p) for p in people))
        deadline = time.monotonic() + args.timeout
        while await _running(http, name) and time.monotonic() < deadline:
            children.check_alive()
            await asyncio.sleep(0.5)
    finally:
        done.set()
        await killer
        await asyncio.gather(*watchers)
    outcome.took_s = time.monotonic() - began
    console.log(f"{category}: runs ended after {outcome.took_s:.0f} s; counting")
    await asyncio.sleep(1.0)  # a reply already on the wire reaches the store
    _count(outcome, store, people, run_ids, await _paged(http, "/v1/deliveries", {}),
           await _paged(http, "/v1/runs", {"definition": name}))
    return outcome


def _count(outcome: Outcome, store: TimedStore, people: list[Recipient], run_ids: dict[str, str],
           deliveries: list[dict[str, Any]], runs: list[dict[str, Any]]) -> None:
    captures = store.list(limit=None)
    outcome.captured = len(captures)
    by_key = Counter((c.channel, c.to) for c in captures)
    message_ids: dict[str, set[str | None]] = {}
    for c in captures:
        if c.channel == "email":
            message_ids.setdefault(c.to, set()).add(c.message_id)
    ours = set(run_ids.values())
    outcome.runs = Counter(r["status"] for r in runs if r["run_id"] in ours)
    rows = {(d["run_id"], d["step_id"]): d for d in deliveries if d["run_id"] in ours}
    expected: set[tuple[str, str]] = set()
    for person in people:
        run_id = run_ids[person.email]
        for step_id, channel in STEPS.items():
            outcome.steps += 1
            address = person.email if channel == "email" else person.phone
            expected.add((channel, address))
            got = by_key[(channel, address)]
            row = rows.get((run_id, step_id))
            state = row["state"] if row else None
            if got > 1:
                outcome.duplicates += got - 1
                if row is not None and state in ("sent", "delivered") and row["reason"] == RESENT:
                    outcome.duplicates_explained += got - 1
                if channel == "email" and len(message_ids[address]) > 1:
                    outcome.message_id_mismatch += 1
            if row is not None and state in ("sent", "delivered") and row["reason"] == RESENT:
                outcome.resent += 1
            if state in ("sent", "delivered") and got:
                outcome.sent += 1
            elif state == "uncertain":
                outcome.uncertain += 1
                outcome.uncertain_received += bool(got)
            elif state == "skipped" and row["reason"] and not got:
                outcome.skipped += 1
            elif state == "failed" and row["reason"] and not got:
                outcome.failed += 1  # recorded with its reason: reported, not silent
            else:
                outcome.lost += 1
                outcome.lost_examples.append(f"{person.email}/{step_id}: ledger {state}, {got} received")
    outcome.stray = sum(n for key, n in by_key.items() if key not in expected)


# -- report --------------------------------------------------------------------------------------


def _rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    def line(label: str, get: Any) -> tuple[str, ...]:
        return (label, *(str(get(o)) for o in outcomes))

    return [
        line("delivery policy", lambda o: "at-least-once" if o.at_least_once else "at-most-once"),
        line("contacts / steps (messages expected)", lambda o: f"{o.contacts} / {o.steps}"),
        line("worker SIGKILLs (ledger rows pending at each kill)",
             lambda o: f"{len(o.kills)} ({', '.join(str(k.in_flight) for k in o.kills)})"),
        line("restarted worker: spawned → polling, per kill (s)",
             lambda o: ", ".join("—" if k.polling_s is None else f"{k.polling_s:.1f}" for k in o.kills)),
        line("rows caught pending → no longer pending, per kill (s)",
             lambda o: ", ".join("—" if k.recovered_s is None else f"{k.recovered_s:.1f}" for k in o.kills)),
        line("phase time, enroll → every run ended (s)", lambda o: f"{o.took_s:.0f}"),
        line("runs by final status", lambda o: ", ".join(f"{k} {v}" for k, v in sorted(o.runs.items()))),
        line("messages captured at the servers", lambda o: o.captured),
        line("sent (ledger sent, server has it)", lambda o: o.sent),
        line("uncertain, reported, not resent", lambda o: o.uncertain),
        line("  … of which the server did receive", lambda o: o.uncertain_received),
        line("uncertain → resent (ledger)", lambda o: o.resent),
        line("duplicates at the servers", lambda o: o.duplicates),
        line("  … explained by uncertain → resent", lambda o: o.duplicates_explained),
        line("skipped with a reason", lambda o: o.skipped),
        line("failed with a reason", lambda o: o.failed),
        line("lost", lambda o: o.lost),
        line("captures no step explains", lambda o: o.stray),
        line("invariants", lambda o: "FAIL: " + "; ".join(o.failures()) if o.failures() else "hold"),
    ]


def _markdown(args: argparse.Namespace, outcomes: list[Outcome], took: float, loadavg: str) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = _rows(outcomes)
    return "\n".join([
        f"## {now} — crash test, N = {args.contacts} per category, {args.kills} worker SIGKILLs per category",
        "",
        f"- Machine: {_machine()}",
        f"- Temporal: {_temporal_version()}; `temporal server start-dev --headless`, state: "
        f"{temporal_state(args.temporal_db)}",
        f"- Load average before the run: {loadavg} (the machine is shared; other jobs may run)",
        "- Stack: `cli.py api` + `cli.py worker` child processes (bench/stack.py, bench/sides.py), CRM DB "
        "SQLite; outbox SMTP + Twilio servers in the benchmark process; policy PUT without quiet hours "
        "or caps (delivery policies as default: transactional at-least-once, marketing at-most-once)",
        f"- Sequence per contact: email `welcome` → wait PT1S → SMS `welcome_followup` → wait PT1S → "
        f"voice `welcome_call`; {ENROLL_CONCURRENCY} enrollments in flight",
        f"- Faults: the worker SIGKILLed every {args.kill_every:g} s from the first capture on and restarted "
        f"at once; SMTP reply to DATA delayed {args.smtp_delay:g} s, Twilio answers "
        f"{args.twilio_delay:g} s (each captures first, so a kill in the delay leaves a message the "
        "server has and our ledger does not know about)",
        "- Counted at the receiving servers (captures per recipient + channel), compared with "
        "`GET /v1/deliveries`; *lost* = a step neither captured, nor skipped/failed with a reason, nor "
        "`uncertain`; a `sent` row the server never received counts as lost",
        f"- Command: `python -m bench.crash --contacts {args.contacts} --kills {args.kills} --category "
        f"{args.category} --kill-every {args.kill_every:g} --temporal-db {args.temporal_db}` "
        f"(whole run {took:.0f} s)",
        "",
        "| measure | " + " | ".join(o.category for o in outcomes) + " |",
        "|---|" + "---:|" * len(outcomes),
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
    ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.crash", description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=300, help="contacts per category")
    parser.add_argument("--kills", type=int, default=5, help="worker SIGKILLs per category")
    parser.add_argument("--category", choices=["marketing", "transactional", "both"], default="both")
    parser.add_argument("--kill-every", type=float, default=12.0, help="seconds between kills")
    parser.add_argument("--smtp-delay", type=float, default=0.3, help="SMTP reply-to-DATA delay (s)")
    parser.add_argument("--twilio-delay", type=float, default=0.2, help="Twilio answer delay (s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a phase may take to end")
    parser.add_argument("--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal")
    parser.add_argument("--log-level", default="WARNING", help="FT_LOG_LEVEL of the API and worker")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    return parser.parse_args(argv)


async def open_stack(
    work: Path, args: argparse.Namespace
) -> tuple[Outbox, FollowthroughSide, RestartableChildren]:
    """The slow loopback outbox, the Followthrough side whose children can be killed and
    restarted, and SIGTERM cancelling the run: what the crash and contention tests share."""
    outbox = await asyncio.to_thread(
        functools.partial(start_outbox, "AC" + secrets.token_hex(16), secrets.token_hex(16),
                          smtp_delay=args.smtp_delay, twilio_class=SlowTwilioServer))
    outbox.twilio.response_delay = args.twilio_delay  # type: ignore[attr-defined]
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
    side = FollowthroughSide(work, outbox, args.log_level, args.temporal_db)
    children = side.children = RestartableChildren(work)
    return outbox, side, children


async def _main(args: argparse.Namespace, loadavg: str) -> int:
    categories = ["marketing", "transactional"] if args.category == "both" else [args.category]
    work = Path(tempfile.mkdtemp(prefix="ft-crash-"))
    started = time.monotonic()
    outbox, side, children = await open_stack(work, args)
    outcomes: list[Outcome] = []
    try:
        await side.start(ENROLL_CONCURRENCY)
        assert side.http is not None
        for index, category in enumerate(categories):
            # Distinct addresses per category: phones +1555 0000000.., +1555 0100000..
            people = recipients("crash", category, args.contacts, index * 100_000)
            outcomes.append(await phase(side, children, outbox.store, category, people, args))
    except BaseException:
        console.print(f"[red]crash test failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        await side.aclose()
        await asyncio.to_thread(outbox.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = Table("measure", *categories, title=f"crash test, N = {args.contacts}, kills = {args.kills}")
    for row in _rows(outcomes):
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(_markdown(args, outcomes, time.monotonic() - started, loadavg) + "\n")
        console.print(f"appended to {RESULTS}")
    failed = [f"{o.category}: {p}" for o in outcomes for p in o.failures()]
    for problem in failed:
        console.print(f"[red]invariant failed[/red] {problem}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(_args(argv), loadavg))


if __name__ == "__main__":
    sys.exit(main())
