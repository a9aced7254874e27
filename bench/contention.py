"""Load test: a burst of contacts while CPU-burning processes compete for every core (issue 9).

    python -m bench.contention [--contacts 1000] [--burners 2] [--category transactional]

The crash test's stack and counting (``bench/crash.py``: API + worker child processes, outbox
SMTP and Twilio servers as threads, email -> PT1S -> SMS -> PT1S -> voice per contact, messages
counted AT THE RECEIVING SERVERS and compared with the ledger), with no kill: instead ``--burners``
processes ``python -c 'while True: pass'`` run from before the burst until every run has ended,
so the worker is starved of CPU — late heartbeats, Temporal retrying deliveries still in flight.

Invariants (exit status 1 when one fails): 0 duplicates at the servers (explained or not), 0 lost,
0 ``uncertain`` rows and 0 "resent after an uncertain attempt" — under load alone nothing is
ever unknown. Figures are appended to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.crash import ENROLL_CONCURRENCY, Outcome, open_stack, phase
from bench.run import RESULTS, results_section
from bench.sides import TEMPORAL_DB, recipients

console = Console()
BURN = "while True: pass"
#: Worker log lines worth counting: retries that waited for an attempt in flight, and the SDK's
#: warning that a workflow task took too long (the CPU starvation this test creates).
IN_FLIGHT = re.compile(r"AttemptInFlight")
SLOW_TASK = re.compile(r"Workflow task duration exceeded")


def problems(outcome: Outcome) -> list[str]:
    """What breaks "never a duplicate because of load": the crash test's invariants, plus any
    duplicate, uncertain row or resend at all (no worker died here)."""
    found = list(outcome.failures())
    if outcome.duplicates and not any("duplicates" in p for p in found):
        found.append(f"{outcome.duplicates} duplicates")
    if outcome.uncertain:
        found.append(f"{outcome.uncertain} uncertain rows")
    if outcome.resent:
        found.append(f"{outcome.resent} resent after an uncertain attempt")
    return found


def _count_lines(path: Path, pattern: re.Pattern[str]) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        return sum(1 for line in fh if pattern.search(line))


def _rows(o: Outcome, in_flight: int, slow_tasks: int, burners: int) -> list[tuple[str, str]]:
    return [
        ("delivery policy", "at-least-once" if o.at_least_once else "at-most-once"),
        ("contacts / steps (messages expected)", f"{o.contacts} / {o.steps}"),
        ("CPU burners competing", str(burners)),
        ("phase time, enroll → every run ended (s)", f"{o.took_s:.0f}"),
        ("runs by final status", ", ".join(f"{k} {v}" for k, v in sorted(o.runs.items()))),
        ("messages captured at the servers", str(o.captured)),
        ("sent (ledger sent, server has it)", str(o.sent)),
        ("duplicates at the servers", str(o.duplicates)),
        ("lost", str(o.lost)),
        ("uncertain rows", str(o.uncertain)),
        ("resent after an uncertain attempt", str(o.resent)),
        ("skipped / failed with a reason", f"{o.skipped} / {o.failed}"),
        ("worker log: retries that waited for an attempt in flight", str(in_flight)),
        ('worker log: "Workflow task duration exceeded"', str(slow_tasks)),
        ("invariants", "FAIL: " + "; ".join(problems(o)) if problems(o) else "hold"),
    ]


def _markdown(args: argparse.Namespace, rows: list[tuple[str, str]], took: float, loadavg: str) -> str:
    return results_section(
        f"load test under CPU contention, N = {args.contacts}, {args.burners} burners",
        temporal_db=args.temporal_db, loadavg=loadavg, rows=rows, facts=[
            "Stack: as the crash test (bench/crash.py), no kill; `cli.py api` + `cli.py worker`, CRM DB "
            f"SQLite; {args.burners} × `python -c '{BURN}'` from before the burst until every run ended",
            f"Sequence per contact ({args.category}): email → PT1S → SMS → PT1S → voice; "
            f"{ENROLL_CONCURRENCY} enrollments in flight; SMTP reply to DATA delayed {args.smtp_delay:g} s, "
            f"Twilio answers {args.twilio_delay:g} s",
            f"Command: `python -m bench.contention --contacts {args.contacts} --burners {args.burners} "
            f"--category {args.category} --temporal-db {args.temporal_db}` (whole run {took:.0f} s)",
        ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000, help="contacts in the burst")
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="CPU-burning processes")
    parser.add_argument("--category", choices=["marketing", "transactional"], default="transactional",
                        help="transactional (at-least-once) is where an uncertain row would be resent")
    parser.add_argument("--smtp-delay", type=float, default=0.3, help="SMTP reply-to-DATA delay (s)")
    parser.add_argument("--twilio-delay", type=float, default=0.2, help="Twilio answer delay (s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds the phase may take to end")
    parser.add_argument("--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal")
    parser.add_argument("--log-level", default="WARNING", help="FT_LOG_LEVEL of the API and worker")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    args = parser.parse_args(argv)
    args.kills, args.kill_every = 0, 1.0  # bench.crash.phase without its killer
    return args


async def _main(args: argparse.Namespace, loadavg: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="ft-contention-"))
    started = time.monotonic()
    outbox, side, children = await open_stack(work, args)
    burners = [f"burner-{i}" for i in range(args.burners)]
    try:
        await side.start(ENROLL_CONCURRENCY)
        people = recipients("load", args.category, args.contacts, 0)
        for name in burners:  # they die with this process (PR_SET_PDEATHSIG) and at aclose
            await children.spawn(name, sys.executable, "-c", BURN)
        console.log(f"{len(burners)} CPU burners started")
        outcome = await phase(side, children, outbox.store, args.category, people, args)
        for name in burners:
            await children.stop(name, grace_s=5)
    except BaseException:
        console.print(f"[red]load test failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        await side.aclose()
        await asyncio.to_thread(outbox.stop)
        log = work / "worker.log"
        in_flight, slow_tasks = _count_lines(log, IN_FLIGHT), _count_lines(log, SLOW_TASK)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    rows = _rows(outcome, in_flight, slow_tasks, len(burners))
    table = Table("measure", "value", title=f"load under CPU contention, N = {args.contacts}")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(_markdown(args, rows, time.monotonic() - started, loadavg) + "\n")
        console.print(f"appended to {RESULTS}")
    for problem in problems(outcome):
        console.print(f"[red]invariant failed[/red] {problem}")
    return 1 if problems(outcome) else 0


def main(argv: list[str] | None = None) -> int:
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(_args(argv), loadavg))


if __name__ == "__main__":
    sys.exit(main())
