"""Enrolling a segment: the batch endpoint against single calls, and a large segment end to end.

    python -m bench.batch [--contacts 1000] [--segment 10000] [--temporal-db file-wal]

On one Followthrough stack (Temporal dev server, ``cli.py api``, ``cli.py worker``, the loopback
outbox; see bench/sides.py):

1. Enrollment rate. ``--contacts`` contacts enrolled with single calls
   (``POST /v1/sequences/{name}/enrollments``, 16 in flight, the batch's own bound), then as many
   other contacts through the batch (``…/enrollments/batch``, 1,000 a request, streamed). The
   sequence waits a day before its first send, so what is timed is the enrollment (claim row,
   start the workflow) while the worker runs each first workflow task, as it would in production.
2. A segment. ``--segment`` contacts (0 to skip) enrolled through the batch, 1,000 a request one
   after the other (as ``followthrough enroll`` does), in a sequence of one email: the time until
   the last batch is answered and until every email is captured, and the worker's memory
   (VmRSS, VmHWM) before and after.

Contacts are written straight into the CRM database (setup, not measured). Figures are printed
and appended to bench/RESULTS.md (``--no-results`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlmodel import Session, select

from bench.load import snapshot
from bench.run import _machine, _temporal_version
from bench.sides import TEMPORAL_DB, FollowthroughSide
from bench.stack import Children, Outbox, ProcStats, proc_stats, start_outbox
from followthrough.store.db import make_engine
from followthrough.store.tables import Contact

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
CONCURRENCY = 16  # single calls in flight: the batch's own bound (batch_enrollment.CONCURRENCY)
BATCH = 1000
HOLD = {
    "name": "bench_hold", "kind": "sequence", "category": "service", "locales": ["en"],
    "description": "Benchmark: enroll now, first send in a day (enrollment cost only).",
    "steps": [{"id": "pause", "type": "wait", "duration": "P1D"},
              {"id": "welcome_email", "type": "send", "channel": "email", "template": "welcome"}],
}
WELCOME = {
    "name": "bench_welcome", "kind": "sequence", "category": "service", "locales": ["en"],
    "description": "Benchmark: one welcome email.",
    "steps": [{"id": "welcome_email", "type": "send", "channel": "email", "template": "welcome"}],
}
console = Console()


class _EnvChildren(Children):
    """Children that add ``extra`` to the environment of the API and worker."""

    def __init__(self, log_dir: Path, extra: dict[str, str]) -> None:
        super().__init__(log_dir)
        self.extra = extra
        self.specs: dict[str, tuple[tuple[str, ...], dict[str, str] | None]] = {}

    async def spawn(self, name: str, *argv: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
        env = None if env is None else {**env, **self.extra}
        self.specs[name] = (argv, env)
        return await super().spawn(name, *argv, env=env)

    async def respawn(self, name: str) -> None:
        """Start ``name`` again as it was first started."""
        argv, env = self.specs[name]
        await self.spawn(name, *argv, env=env)


class BatchSide(FollowthroughSide):
    """The Followthrough side with a write rate limit that the single-call phase cannot reach
    (1,000 writes in seconds; the default is 120 a minute per key)."""

    def __init__(self, work: Path, outbox: Outbox, temporal_db: str) -> None:
        super().__init__(work, outbox, "WARNING", temporal_db)
        self.children = _EnvChildren(work, {"FT_RATE_LIMIT_WRITES": "1000000/minute"})

    def add_contacts(self, group: str, count: int) -> list[int]:
        """``count`` contacts with external ids ``{group}-{i}``, straight into the CRM database."""
        engine = make_engine(f"sqlite:///{self.work / 'ft' / 'followthrough.sqlite3'}")
        try:
            with Session(engine) as session:
                session.add_all([Contact(external_id=f"{group}-{i}", name=f"Person {i}",
                                         email=f"{group}-{i}@example.test", phone=f"+1555{i:07d}")
                                 for i in range(count)])
                session.commit()
                rows = session.exec(select(Contact.id).where(
                    Contact.external_id.startswith(f"{group}-"))).all()  # type: ignore[union-attr]
            return sorted(int(r) for r in rows if r is not None)
        finally:
            engine.dispose()

    async def enroll_one(self, name: str, contact_id: int) -> None:
        assert self.http is not None
        response = await self.http.post(f"/v1/sequences/{name}/enrollments", json={"contact_id": contact_id})
        if response.status_code != 201:
            raise RuntimeError(f"enrollment: {response.status_code} {response.text[:200]}")

    async def enroll_batch(self, name: str, contacts: list[dict[str, Any]]) -> dict[str, int]:
        """One streamed batch; its summary line (every contact must be created)."""
        assert self.http is not None
        summary: dict[str, int] = {}
        async with self.http.stream("POST", f"/v1/sequences/{name}/enrollments/batch",
                                    json={"contacts": contacts},
                                    headers={"Accept": "application/x-ndjson"}) as response:
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"batch: {response.status_code} {response.text[:200]}")
            async for line in response.aiter_lines():
                if line.strip() and "summary" in (answer := json.loads(line)):
                    summary = answer["summary"]
        if summary.get("created") != len(contacts):
            raise RuntimeError(f"batch: {summary}")
        return summary


async def _quiet_worker(side: BatchSide, limit_s: float = 300) -> None:
    """Until the worker used under 0.05 CPU-s in the last second (its backlog is done)."""
    if "worker" not in side.pids():
        return  # stopped for the rate phase (--stop-worker)
    pid = side.pids()["worker"]
    deadline = time.monotonic() + limit_s
    before = proc_stats(pid).cpu_s
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        now = proc_stats(pid).cpu_s
        if now - before < 0.05:
            return
        before = now


def _cpu(before: dict[str, ProcStats], after: dict[str, ProcStats]) -> dict[str, float]:
    return {name: after[name].cpu_s - before[name].cpu_s for name in after}


async def rate_phase(side: BatchSide, n: int, stop_worker: bool) -> dict[str, Any]:
    if stop_worker:  # the door alone: API and Temporal, no workflow task run meanwhile
        await side.children.stop("worker")
    serial = await asyncio.to_thread(side.add_contacts, "serial", n)
    singles = await asyncio.to_thread(side.add_contacts, "single", n)
    batched = await asyncio.to_thread(side.add_contacts, "batch", n)
    t0 = time.monotonic()
    for contact_id in serial:  # what a client looping over its segment gets
        await side.enroll_one("bench_hold", contact_id)
    serial_s = time.monotonic() - t0
    await _quiet_worker(side)
    console.log(f"single calls one at a time: {n} in {serial_s:.1f} s")
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(contact_id: int) -> None:
        async with gate:
            await side.enroll_one("bench_hold", contact_id)

    before = snapshot(side)
    t0 = time.monotonic()
    await asyncio.gather(*(one(c) for c in singles))
    single_s = time.monotonic() - t0
    await _quiet_worker(side)
    single_cpu = _cpu(before, snapshot(side))
    console.log(f"single calls: {n} in {single_s:.1f} s")

    before = snapshot(side)
    t0 = time.monotonic()
    for start in range(0, n, BATCH):
        await side.enroll_batch("bench_hold", [{"contact_id": c} for c in batched[start:start + BATCH]])
    batch_s = time.monotonic() - t0
    await _quiet_worker(side)
    batch_cpu = _cpu(before, snapshot(side))
    console.log(f"batch: {n} in {batch_s:.1f} s")
    if stop_worker:
        assert isinstance(side.children, _EnvChildren)
        await side.children.respawn("worker")
        await asyncio.sleep(5)
        await _quiet_worker(side, 900)
        console.log("worker restarted and idle again")
    return {"n": n, "serial_s": serial_s, "single_s": single_s, "batch_s": batch_s, "single_cpu": single_cpu,
            "batch_cpu": batch_cpu}


async def segment_phase(side: BatchSide, outbox: Outbox, m: int, limit_s: float) -> dict[str, Any]:
    await asyncio.to_thread(side.add_contacts, "segment", m)
    outbox.store.reset()
    before = snapshot(side)
    t0 = time.time()
    for start in range(0, m, BATCH):
        await side.enroll_batch(
            "bench_welcome", [{"external_id": f"segment-{i}"} for i in range(start, min(m, start + BATCH))])
        console.log(f"segment: {min(m, start + BATCH)} of {m} enrolled, {outbox.store.count} emails out")
    enrolled_s = time.time() - t0
    await outbox.store.wait_for(m, limit_s, side.children)
    after = snapshot(side)
    return {"m": m, "enrolled_s": enrolled_s, "emails_s": outbox.store.last_at - t0,
            "duplicates": outbox.store.duplicates, "before": before, "after": after,
            "cpu": _cpu(before, after)}


def _markdown(args: argparse.Namespace, rate: dict[str, Any] | None, seg: dict[str, Any] | None,
              took: float) -> str:
    n = args.contacts
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — enrolling a segment (batch endpoint), N = {n}"
        + (f", segment {seg['m']}" if seg else ""),
        "",
        f"- Machine: {_machine()} — the shared 2-core box other helpers use at the same time",
        f"- Load average before the run: {args.loadavg}",
        f"- Temporal: {_temporal_version()}; `start-dev`, state {args.temporal_db} "
        f"({' '.join(TEMPORAL_DB[args.temporal_db][1]) or 'default pragmas'})",
        "- Followthrough: `cli.py api` + `cli.py worker`, CRM DB SQLite (WAL), FT_LOG_LEVEL=WARNING, "
        "FT_RATE_LIMIT_WRITES raised for the single calls",
        "- Worker during the rate phase: " + ("stopped (restarted before the segment)"
                                               if args.stop_worker else "running"),
        f"- Command: `python -m bench.batch --contacts {n} --segment {args.segment} "
        + ("--stop-worker " if args.stop_worker else "") +
        f"--temporal-db {args.temporal_db}` (whole run {took:.0f} s)",
    ]
    if rate:
        lines += _rate_lines(rate)
    if seg:
        lines += _segment_lines(seg)
    return "\n".join(lines) + "\n"


def _rate_lines(rate: dict[str, Any]) -> list[str]:
    n = rate["n"]
    lines = [
        "",
        "| enrollment rate (sequence `bench_hold`: first send in a day) | single calls, 16 in flight | "
        f"batch, {BATCH} a request | batch / single |",
        "|---|---:|---:|---:|",
        f"| single calls one at a time: {n} answered (s) | {rate['serial_s']:.2f} | — | — |",
        f"| single calls one at a time: enrollments/s | {n / rate['serial_s']:.1f} | — | "
        f"{rate['serial_s'] / rate['batch_s']:.2f}× |",
        f"| {n} enrollments answered (s) | {rate['single_s']:.2f} | {rate['batch_s']:.2f} | "
        f"{rate['batch_s'] / rate['single_s']:.2f}× |",
        f"| enrollments/s | {n / rate['single_s']:.1f} | {n / rate['batch_s']:.1f} | "
        f"{rate['single_s'] / rate['batch_s']:.2f}× |",
    ]
    for proc in ("api", "worker", "temporal-followthrough"):
        s, b = rate["single_cpu"].get(proc), rate["batch_cpu"].get(proc)
        if s is not None and b is not None:
            lines.append(f"| {proc} CPU until the worker is idle (s) | {s:.1f} | {b:.1f} | "
                         f"{b / s if s else float('nan'):.2f}× |")
    return lines


def _segment_lines(seg: dict[str, Any]) -> list[str]:
    m, before, after = seg["m"], seg["before"], seg["after"]
    return [
        "",
        f"| segment of {m} (sequence `bench_welcome`: one email), {BATCH} a request, one after "
        "the other | value |",
        "|---|---:|",
        f"| every batch answered (s) | {seg['enrolled_s']:.1f} |",
        f"| enrollments/s | {m / seg['enrolled_s']:.1f} |",
        f"| every first message (email) captured (s) | {seg['emails_s']:.1f} |",
        f"| emails/s | {m / seg['emails_s']:.1f} |",
        f"| duplicate messages | {seg['duplicates']} |",
        f"| worker VmRSS before → after (MiB) | {before['worker'].rss_mib:.0f} → {after['worker'].rss_mib:.0f} |",
        f"| worker VmHWM before → after (MiB) | {before['worker'].hwm_mib:.0f} → {after['worker'].hwm_mib:.0f} |",
        f"| API VmHWM before → after (MiB) | {before['api'].hwm_mib:.0f} → {after['api'].hwm_mib:.0f} |",
        f"| worker CPU (s) | {seg['cpu']['worker']:.1f} |",
        f"| API CPU (s) | {seg['cpu']['api']:.1f} |",
    ]


async def _main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="ft-bench-batch-"))
    started = time.monotonic()
    outbox = await asyncio.to_thread(start_outbox, "AC" + secrets.token_hex(16), secrets.token_hex(16))
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
    side = BatchSide(work, outbox, args.temporal_db)
    try:
        await side.start(CONCURRENCY + 4)
        for document in (HOLD, WELCOME):
            await side.save_and_publish(document)
        warm = await asyncio.to_thread(side.add_contacts, "warm", 10)
        await asyncio.gather(*(side.enroll_one("bench_welcome", c) for c in warm))
        await outbox.store.wait_for(10, 120, side.children)
        rate = await rate_phase(side, args.contacts, args.stop_worker) if args.contacts else None
        seg = await segment_phase(side, outbox, args.segment, args.timeout) if args.segment else None
    except BaseException:
        console.print(f"[red]benchmark failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        await side.aclose()
        await asyncio.to_thread(outbox.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = _markdown(args, rate, seg, time.monotonic() - started)
    console.print(text)
    if not args.no_results:
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1000, help="enrollments each way (0: skip)")
    parser.add_argument("--stop-worker", action="store_true",
                        help="stop the worker during the rate phase (measure the API and Temporal alone)")
    parser.add_argument("--segment", type=int, default=0, help="contacts of the segment run (0: skip)")
    parser.add_argument("--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds the segment may take")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    args = parser.parse_args(argv)
    args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
