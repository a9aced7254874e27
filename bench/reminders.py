"""Reminder punctuality (issue 11): N open tasks whose reminders fall over the next window.

    python -m bench.reminders [--tasks 2000] [--window 300] [--owners 100] [--lead-in 60]
    python -m bench.reminders --tasks 10000 --window 3600      # the issue's form (an hour)

The crash/contention stack (``bench/crash.py``'s ``open_stack``): a Temporal dev server
(``--temporal-db file-wal``, as ``make dev``), ``cli.py api`` and ``cli.py worker`` as child
processes, CRM database SQLite, the aiosmtpd outbox as a thread of this process. ``--owners``
reps (``POST /v1/users``, email, notified by email) get the tasks round-robin; each task is made
through the real API and service (``POST /v1/tasks`` -> ``followthrough.tasks.service.create``:
the row, then ``task-<id>``'s ``TaskWorkflow``), ``priority: urgent`` so the owner's working
time never defers a reminder (lateness is the engine's, not the calendar's).

Planned reminder times are spread evenly over ``[t0 + lead-in, t0 + lead-in + window]`` (t0:
when creation starts); tasks are created in that order, so creation runs ahead of the clock.
Every reminder email is matched to its task by its subject (``Reminder: bench task <n> at ..``)
at the SMTP server; lateness = capture time (``time.time()``) - planned reminder time.
Exit status 1 on a missing or duplicate reminder. Figures are appended to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType

from bench.crash import open_stack
from bench.run import RESULTS, results_section
from bench.sides import TEMPORAL_DB, FollowthroughSide
from bench.stack import TimedStore, proc_stats
from channels.outbox import Capture

console = Console()
SUBJECT = re.compile(r"^Reminder: bench task (\d+) at ")
LEAD = timedelta(minutes=15)
CONCURRENCY = 20


class ReminderStore(TimedStore):
    """Notes the first capture time of each task's reminder (by subject) and any repeat."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.reminded: dict[int, float] = {}
        self.repeats: dict[int, int] = {}

    def append(self, capture: Capture) -> Capture:
        now = time.time()
        match = SUBJECT.match(capture.subject or "") if capture.channel == "email" else None
        if match is not None:
            number = int(match[1])
            with self._lock:
                if number in self.reminded:
                    self.repeats[number] = self.repeats.get(number, 0) + 1
                else:
                    self.reminded[number] = now
        return super().append(capture)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in [0, 100])."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


class Peaks:
    """Sampled peak VmRSS and VmHWM of named processes (``/proc``), every ``every`` seconds."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.rss: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.hwm: dict[str, float] = dict.fromkeys(pids, 0.0)

    def sample(self) -> None:
        for name, pid in self.pids.items():
            try:
                stats = proc_stats(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
            self.rss[name] = max(self.rss[name], stats.rss_mib)
            self.hwm[name] = max(self.hwm[name], stats.hwm_mib)

    async def run(self, every: float = 1.0) -> None:
        while True:
            self.sample()
            await asyncio.sleep(every)


async def _create(
    side: FollowthroughSide, args: argparse.Namespace, t0: float, task_ids: dict[int, int]
) -> tuple[dict[int, float], float, list[float]]:
    """Owners, then the tasks in planned order; planned reminder time per task number, the
    creation time (s) and when each task's creation was answered (``time.time()``). Fills
    ``task_ids`` (task number -> task id)."""
    http = side.http
    assert http is not None
    owners: list[int] = []
    for i in range(args.owners):
        response = await http.post("/v1/users", json={
            "name": f"Bench Rep {i}", "email": f"rep-{i}@bench.example", "role": "rep"})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/users: {response.status_code} {response.text[:300]}")
        owners.append(response.json()["id"])
    step = args.window / max(1, args.tasks - 1)
    planned = {n: t0 + args.lead_in + n * step for n in range(args.tasks)}
    gate = asyncio.Semaphore(CONCURRENCY)
    made: list[float] = []

    async def create(n: int) -> None:
        due = datetime.fromtimestamp(planned[n], UTC) + LEAD
        async with gate:
            response = await http.post("/v1/tasks", json={
                "kind": "call", "title": f"bench task {n}", "owner_id": owners[n % len(owners)],
                "due": due.isoformat(timespec="milliseconds"), "remind_before": "PT15M",
                "priority": "urgent"})
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/tasks: {response.status_code} {response.text[:300]}")
        made.append(time.time())
        task_ids[n] = response.json()["id"]
        if n % 500 == 499:
            console.log(f"{n + 1} tasks created")

    started = time.monotonic()
    # In planned order, CONCURRENCY in flight: the earliest reminders exist first.
    await asyncio.gather(*(create(n) for n in range(args.tasks)))
    return planned, time.monotonic() - started, made


#: Where a reminder's lateness goes, read from its task's history (event times are the server's).
STAGES = ("timer fired after planned", "workflow task waited for the worker",
          "workflow task ran (replay, task data, schedule delivery)", "delivery waited for the worker",
          "delivery ran until the SMTP capture")
SAMPLE = 400


async def _stages(side: FollowthroughSide, task_ids: dict[int, int], planned: dict[int, float],
                  reminded: dict[int, float]) -> dict[str, list[float]]:
    """Lateness split along the reminder's path for up to ``SAMPLE`` measured tasks spread over
    the window: the timer firing, its workflow task (waiting, then running: a replay when the run
    was not cached, the task's data as a local activity, the delivery scheduled), the delivery
    activity (waiting for a slot, then the door and SMTP until the capture)."""
    numbers = [n for n in sorted(planned) if n in reminded and n in task_ids]
    numbers = numbers[:: max(1, len(numbers) // SAMPLE)]
    out: dict[str, list[float]] = {name: [] for name in STAGES}

    def at(event) -> float:  # type: ignore[no-untyped-def]
        return event.event_time.ToDatetime().replace(tzinfo=UTC).timestamp()

    for n in numbers:
        events = [e async for e in side.client.get_workflow_handle(f"task-{task_ids[n]}").fetch_history_events()]
        fired = next((e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED), None)
        if fired is None:
            continue
        after = [e for e in events if e.event_id > fired.event_id]
        kinds = {e.event_type: e for e in reversed(after)}  # the first of each kind after the timer
        try:
            wft_s, wft_r = kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED], kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
            act_s, act_r = kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED], kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
        except KeyError:
            continue
        points = [planned[n], at(fired), at(wft_s), at(wft_r), at(act_s), at(act_r), reminded[n]]
        out[STAGES[0]].append(points[1] - points[0])
        out[STAGES[1]].append(points[3] - points[2])
        out[STAGES[2]].append(points[4] - points[3])
        out[STAGES[3]].append(points[5] - points[4])
        out[STAGES[4]].append(points[6] - points[5])
    return out


def _rows(args: argparse.Namespace, store: ReminderStore, planned: dict[int, float], created_s: float,
          late_created: int, open_at_first: int, peaks: Peaks,
          stages: dict[str, list[float]]) -> tuple[list[tuple[str, str]], list[str]]:
    lateness = [store.reminded[n] - at for n, at in planned.items() if n in store.reminded]
    missing = len(planned) - len(lateness)
    duplicates = sum(count for n, count in store.repeats.items() if n in planned)
    fifths = [[store.reminded[n] - at for n, at in planned.items()
               if n in store.reminded and n * 5 // len(planned) == k] for k in range(5)]
    problems = [f"{missing} missing reminders"] if missing else []
    if duplicates:
        problems.append(f"{duplicates} duplicate reminders")
    ms = (lambda q: f"{percentile(lateness, q) * 1000:.0f}") if lateness else (lambda q: "—")
    rows = [
        ("tasks / owners", f"{args.tasks} / {args.owners}"),
        ("reminders spread over (s), first after (s)", f"{args.window:g}, {args.lead_in:g}"),
        ("tasks created (s), rate (tasks/s)", f"{created_s:.0f}, {args.tasks / created_s:.1f}"),
        ("tasks open when the first reminder was due", str(open_at_first)),
        ("tasks created after their reminder time", str(late_created)),
        ("reminders measured (planned in the first s of the window)",
         f"{len(planned)} ({'all' if args.measure is None else f'{args.measure:g}'})"),
        ("reminders captured", str(len(lateness))),
        ("missing reminders", str(missing)),
        ("duplicate reminders", str(duplicates)),
        ("lateness p50 (ms)", ms(50)),
        ("lateness p99 (ms)", ms(99)),
        ("lateness max (ms)", ms(100)),
        ("lateness p99 by fifth of the measured window (ms)",
         ", ".join(f"{percentile(f, 99) * 1000:.0f}" if f else "—" for f in fifths)),
        ("early (captured before planned time)", str(sum(1 for x in lateness if x < 0))),
        ("worker peak RSS, sampled / VmHWM (MiB)", f"{peaks.rss['worker']:.0f} / {peaks.hwm['worker']:.0f}"),
        ("Temporal server peak RSS, sampled / VmHWM (MiB)",
         f"{peaks.rss['temporal']:.0f} / {peaks.hwm['temporal']:.0f}"),
        ("API peak RSS, sampled / VmHWM (MiB)", f"{peaks.rss['api']:.0f} / {peaks.hwm['api']:.0f}"),
        *[(f"— {name}, p50 / p99 (ms, {len(values)} sampled)",
           f"{percentile(values, 50) * 1000:.0f} / {percentile(values, 99) * 1000:.0f}" if values else "—")
          for name, values in stages.items()],
        ("goal p99 ≤ 1 s late, worker RSS ≤ 1 GiB",
         "met" if lateness and percentile(lateness, 99) <= 1.0 and peaks.hwm["worker"] <= 1024 else "not met"),
        ("invariants (no missing, no duplicate)", "FAIL: " + "; ".join(problems) if problems else "hold"),
    ]
    return rows, problems


def _markdown(args: argparse.Namespace, rows: list[tuple[str, str]], took: float, loadavg: str) -> str:
    return results_section(
        f"reminder punctuality, {args.tasks} open tasks over {args.window:g} s", temporal_db=args.temporal_db,
        loadavg=loadavg, rows=rows, facts=[
            "Stack: `cli.py api` + `cli.py worker`, CRM DB SQLite, aiosmtpd outbox in the benchmark process; "
            f"{args.owners} reps (email), tasks via `POST /v1/tasks` ({CONCURRENCY} in flight, urgent, lead PT15M)",
            f"Command: `python -m bench.reminders --tasks {args.tasks} --window {args.window:g} --owners "
            f"{args.owners} --lead-in {args.lead_in:g}"
            f"{'' if args.measure is None else f' --measure {args.measure:g}'}` (whole run {took:.0f} s)",
        ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.reminders", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000, help="open tasks (issue: 10000, then 30000)")
    parser.add_argument("--window", type=float, default=300.0, help="seconds the reminders spread over (issue: 3600)")
    parser.add_argument("--owners", type=int, default=100, help="reps owning the tasks (round-robin)")
    parser.add_argument("--lead-in", type=float, default=60.0,
                        help="seconds from the start of creation to the first reminder")
    parser.add_argument("--measure", type=float, default=None,
                        help="count only the reminders planned in the first SECONDS of the window "
                             "(all tasks stay open; e.g. the hour's first 600 s); default: the whole window")
    parser.add_argument("--grace", type=float, default=60.0, help="seconds to wait after the last planned reminder")
    parser.add_argument("--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal")
    parser.add_argument("--log-level", default="WARNING", help="FT_LOG_LEVEL of the API and worker")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    args = parser.parse_args(argv)
    args.smtp_delay, args.twilio_delay = 0.0, 0.0  # open_stack's outbox, answering at once
    return args


async def _main(args: argparse.Namespace, loadavg: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="ft-reminders-"))
    started = time.monotonic()
    outbox, side, children = await open_stack(work, args)
    store = ReminderStore()
    outbox.smtp.store = store  # the SMTP server appends to whatever store it holds now
    sampler: asyncio.Task[None] | None = None
    try:
        await side.start(CONCURRENCY)
        pids = side.pids()
        peaks = Peaks({"worker": pids["worker"], "api": pids["api"], "temporal": pids["temporal-followthrough"]})
        sampler = asyncio.create_task(peaks.run())
        t0 = time.time()
        console.log(f"creating {args.tasks} tasks for {args.owners} owners")
        task_ids: dict[int, int] = {}
        planned, created_s, made = await _create(side, args, t0, task_ids)
        open_at_first = sum(1 for at in made if at <= min(planned.values()))
        late_created = sum(1 for n, at in enumerate(sorted(made)) if at > planned[n])
        console.log(f"{args.tasks} tasks created in {created_s:.0f} s; waiting for the reminders")
        if args.measure is not None:
            cut = min(planned.values()) + args.measure
            planned = {n: at for n, at in planned.items() if at <= cut}
        deadline = max(planned.values()) + args.grace
        while sum(1 for n in planned if n in store.reminded) < len(planned) and time.time() < deadline:
            children.check_alive()
            await asyncio.sleep(0.5)
        await asyncio.sleep(5)  # a late duplicate would show up here
        peaks.sample()
        stages = await _stages(side, task_ids, planned, store.reminded)
    except BaseException:
        console.print(f"[red]reminder benchmark failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        if sampler is not None:
            sampler.cancel()
        await side.aclose()
        await asyncio.to_thread(outbox.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows, problems = _rows(args, store, planned, created_s, late_created, open_at_first, peaks, stages)
    table = Table("measure", "value", title=f"reminder punctuality, {args.tasks} tasks over {args.window:g} s")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(_markdown(args, rows, time.monotonic() - started, loadavg) + "\n")
        console.print(f"appended to {RESULTS}")
    for problem in problems:
        console.print(f"[red]invariant failed[/red] {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(_args(argv), loadavg))


if __name__ == "__main__":
    sys.exit(main())
