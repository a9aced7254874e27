"""Open tickets with running SLA clocks (issue 13): N tickets, each with its clocks and ladder.

    python -m bench.tickets [--tickets 2000] [--budget 600] [--agents 50]
    python -m bench.tickets --tickets 10000 --budget 1200     # the issue's form

The crash/contention stack (``bench/crash.py``'s ``open_stack``): a Temporal dev server, ``cli.py
api`` and ``cli.py worker`` as child processes, CRM database SQLite, the aiosmtpd outbox in this
process. The benchmark publishes an SLA policy (``FT_SLA_POLICY``'s ``support_sla``) on a
calendar open around the clock (``bench_always``, so business time is elapsed time and the
ladder falls inside the run), a team of ``--agents`` agents with a manager, and opens every
ticket through ``POST /v1/tickets`` (classification, routing, round robin, ``ticket-<id>``, the
customer's acknowledgement through the door). Each ticket's first response is due ``--budget``
seconds after it opens; the ladder warns the assignee at half of it and escalates to the manager
at all of it (then the breach), and the resolution clock runs on (8 h): every ticket stays open.

Lateness is the workflow's own record: each warning, escalation and breach is a ``ticket_events``
row with the planned instant (``due_at``, the planner's exact business minute) and the moment the
workflow acted on it (``at``: ``workflow.now()`` of the task the timer woke). Peak RSS of the
worker, the Temporal server and the API are sampled from ``/proc``. Figures are appended to
``bench/RESULTS.md``. Exit status 1 when a rung is missing or fired twice.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.crash import open_stack
from bench.reminders import Peaks, percentile
from bench.run import RESULTS, results_section
from bench.sides import TEMPORAL_DB, FollowthroughSide

console = Console()
CONCURRENCY = 20
#: Rungs each ticket fires within the run: the warning, the escalation, the breach.
RUNGS = 3
#: The longest wait for late rungs after the last planned one (s).
STRAGGLERS = 1800.0


def policy(budget: float) -> dict[str, object]:
    first = f"PT{int(budget)}S"
    return {
        "name": "support_sla", "kind": "sla_policy", "calendar": "bench_always",
        "default_priority": "normal", "default_category": "general",
        "priorities": {"normal": {"first_response": first, "resolution": "PT8H", "ladder": [
            {"at": {"share": 0.5}, "target": "first_response", "notify": ["assignee"], "warning": True},
            {"at": {"share": 1.0}, "target": "first_response", "notify": ["team_manager"]},
        ]}},
        "default_team": "support", "hold_categories": [],
    }


async def _setup(side: FollowthroughSide, args: argparse.Namespace) -> list[int]:
    http = side.http
    assert http is not None

    async def ok(response_coro, what: str):  # type: ignore[no-untyped-def]
        response = await response_coro
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
        return response.json()

    week = {d: [["00:00", "23:59"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    await ok(http.put("/v1/calendars/bench_always", json={"time_zone": "UTC", "week": week}), "calendar")
    manager = (await ok(http.post("/v1/users", json={"name": "Bench Manager", "email": "manager@bench.example",
                                                      "role": "manager"}), "manager"))["id"]
    agents = [(await ok(http.post("/v1/users", json={"name": f"Bench Agent {i}", "email": f"agent-{i}@bench.example",
                                                      "role": "rep"}), "agent"))["id"] for i in range(args.agents)]
    await ok(http.put("/v1/teams/support", json={"members": [{"user_id": a} for a in agents], "manager_id": manager}),
             "team")
    saved = await ok(http.post("/v1/definitions", json=policy(args.budget)), "policy")
    if not saved.get("active"):
        await ok(http.post("/v1/definitions/support_sla/publish", json={"version": saved["version"]}), "publish")
    contacts = []
    for i in range(args.contacts):
        contacts.append((await ok(http.post("/v1/contacts", json={
            "name": f"Customer {i}", "email": f"customer-{i}@bench.example", "locale": ("en", "ru", "hu")[i % 3],
            "time_zone": "Europe/Budapest"}), "contact"))["id"])
    return contacts


async def _open(side: FollowthroughSide, args: argparse.Namespace, contacts: list[int]) -> float:
    http = side.http
    assert http is not None
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(n: int) -> None:
        async with gate:
            response = await http.post("/v1/tickets", json={
                "contact_id": contacts[n % len(contacts)], "channel": "email", "subject": f"bench ticket {n}",
                "text": "Where is my order?"})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/tickets: {response.status_code} {response.text[:300]}")
        if n % 500 == 499:
            console.log(f"{n + 1} tickets opened")

    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(args.tickets)))
    return time.monotonic() - started


def _fired(db: Path) -> tuple[list[float], int, int]:
    """(lateness in seconds of every rung, the tickets, duplicate rung keys)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, detail, at FROM ticket_events WHERE kind IN "
                            "('warning', 'escalation', 'breach')").fetchall()
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    import json

    lateness, keys = [], set()
    duplicates = 0
    for key, detail, at in rows:
        if key in keys:
            duplicates += 1
        keys.add(key)
        due = datetime.fromisoformat(json.loads(detail)["due_at"])
        acted = datetime.fromisoformat(at).replace(tzinfo=due.tzinfo)
        lateness.append((acted - due).total_seconds())
    return lateness, tickets, duplicates


async def _count(db: Path) -> int:
    def count() -> int:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM ticket_events WHERE kind IN "
                                    "('warning', 'escalation', 'breach')").fetchone()[0])
    return await asyncio.to_thread(count)


def _markdown(args: argparse.Namespace, rows: list[tuple[str, str]], took: float, loadavg: str) -> str:
    return results_section(
        f"tickets: {args.tickets} open with running SLA clocks", temporal_db=args.temporal_db,
        loadavg=loadavg, rows=rows, facts=[
            "Stack: `cli.py api` + `cli.py worker`, CRM DB SQLite, aiosmtpd outbox in the benchmark "
            f"process; {args.agents} agents in one team, {args.contacts} contacts, tickets via "
            f"`POST /v1/tickets` ({CONCURRENCY} in flight), calendar open around the clock",
            f"Command: `python -m bench.tickets --tickets {args.tickets} --budget {args.budget:g} --agents "
            f"{args.agents} --contacts {args.contacts}` (whole run {took:.0f} s)",
        ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.tickets", description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000, help="open tickets (issue: 10000)")
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds of first-response budget (warning at half, escalation and breach at all)")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--grace", type=float, default=120.0,
                        help="seconds to wait after the last planned rung, and for each late one after that")
    parser.add_argument("--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--no-results", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    args.smtp_delay, args.twilio_delay = 0.0, 0.0
    return args


async def _main(args: argparse.Namespace, loadavg: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="ft-tickets-"))
    started = time.monotonic()
    outbox, side, children = await open_stack(work, args)
    db = work / "ft" / "followthrough.sqlite3"
    sampler: asyncio.Task[None] | None = None
    try:
        await side.start(CONCURRENCY)
        pids = side.pids()
        peaks = Peaks({"worker": pids["worker"], "api": pids["api"], "temporal": pids["temporal-followthrough"]})
        sampler = asyncio.create_task(peaks.run())
        contacts = await _setup(side, args)
        t0 = time.time()
        opened_s = await _open(side, args, contacts)
        console.log(f"{args.tickets} tickets opened in {opened_s:.0f} s; waiting for the ladders")
        # Past the last planned rung plus the grace, the wait goes on while rungs still come
        # (a late rung is told apart from one that never fires): it ends once none has come
        # for a whole grace period, or at the cap.
        last_planned = t0 + opened_s + args.budget
        fired, grew_at = 0, time.time()
        while fired < args.tickets * RUNGS:
            children.check_alive()
            await asyncio.sleep(2)
            now, count = time.time(), await _count(db)
            if count > fired:
                fired, grew_at = count, now
            if now >= last_planned + args.grace and (now - grew_at >= args.grace or now >= last_planned + STRAGGLERS):
                break
        waited_after = max(0.0, time.time() - last_planned)
        peaks.sample()
        lateness, tickets, duplicates = await asyncio.to_thread(_fired, db)
    except BaseException:
        console.print(f"[red]ticket benchmark failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        if sampler is not None:
            sampler.cancel()
        await side.aclose()
        await asyncio.to_thread(outbox.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    missing = args.tickets * RUNGS - len(lateness) + duplicates
    ms = (lambda q: f"{percentile(lateness, q) * 1000:.0f}") if lateness else (lambda q: "—")
    problems = [f"{missing} rungs missing"] if missing else []
    if duplicates:
        problems.append(f"{duplicates} rungs fired twice")
    rows = [
        ("tickets opened / in the table", f"{args.tickets} / {tickets}"),
        ("opening took (s), rate (tickets/s)", f"{opened_s:.0f}, {args.tickets / opened_s:.1f}"),
        ("first-response budget (s): warning at 50 %, escalation + breach at 100 %", f"{args.budget:g}"),
        ("rungs fired (warning, escalation, breach)", str(len(lateness))),
        ("missing / duplicate rungs", f"{missing} / {duplicates}"),
        ("waited after the last planned rung (s; until all fired, or none came for the grace)",
         f"{waited_after:.0f}"),
        ("lateness vs the exact business minute p50 (ms)", ms(50)),
        ("lateness p99 (ms)", ms(99)),
        ("lateness max (ms)", ms(100)),
        ("worker peak RSS, sampled / VmHWM (MiB)", f"{peaks.rss['worker']:.0f} / {peaks.hwm['worker']:.0f}"),
        ("Temporal server peak RSS, sampled / VmHWM (MiB)",
         f"{peaks.rss['temporal']:.0f} / {peaks.hwm['temporal']:.0f}"),
        ("API peak RSS, sampled / VmHWM (MiB)", f"{peaks.rss['api']:.0f} / {peaks.hwm['api']:.0f}"),
        ("invariants (no missing, no duplicate rung)", "FAIL: " + "; ".join(problems) if problems else "hold"),
    ]
    table = Table("measure", "value", title=f"{args.tickets} open tickets")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(_markdown(args, rows, time.monotonic() - started, loadavg) + "\n")
        console.print(f"appended to {RESULTS}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(_args(argv), loadavg))


if __name__ == "__main__":
    sys.exit(main())
