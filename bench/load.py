"""The measured phases: warm-up, burst (throughput) and paced (latency), for either side."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from bench.sides import Recipient, Side
from bench.stack import ProcStats, TimedStore, proc_stats


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def bucket_percentile(buckets: dict[float, float], q: float) -> float | None:
    """The upper bound of the histogram bucket holding the ``q``-th percentile (None: empty;
    ``inf``: beyond the last finite bound)."""
    total = buckets.get(math.inf, 0.0)
    if total <= 0:
        return None
    return next(le for le in sorted(buckets) if buckets[le] >= q / 100 * total)


def snapshot(side: Side) -> dict[str, ProcStats]:
    return {name: proc_stats(pid) for name, pid in side.pids().items()}


@dataclass
class Burst:
    n: int
    enroll_s: float  # first enrollment request sent -> last one answered
    last_message_s: float  # first request sent -> 2N-th message captured
    closed_s: float  # first request sent -> no workflow running on the side's task queue
    duplicates: int
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per process in the phase
    #: Workflow task execution latency in the phase (SDK histogram: upper bound ms -> count).
    task_buckets: dict[float, float] | None = None
    #: The Temporal server's requests in the phase (``Side.server_counters`` keys -> count).
    server_ops: dict[str, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return 2 * self.n / self.last_message_s


@dataclass
class Paced:
    n: int
    rate: float  # achieved enrollments per second
    email_ms: list[float]  # enroll request start -> email captured
    request_ms: list[float]  # enroll request start -> its answer
    duplicates: int


async def _enroll_all(side: Side, people: list[Recipient], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(person: Recipient) -> None:
        async with gate:
            await side.enroll(person)

    await asyncio.gather(*(one(p) for p in people))


async def _until_idle(side: Side, limit_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while await side.running() > 0:
        side.children.check_alive()
        if loop.time() > deadline:
            raise TimeoutError(f"{side.name}: workflows still running after {limit_s:.0f} s")
        await asyncio.sleep(0.1)


async def warm_up(side: Side, store: TimedStore, people: list[Recipient], concurrency: int) -> None:
    """Run a few contacts through so imports, sandbox and connection pools are warm."""
    store.reset()
    await _enroll_all(side, people, concurrency)
    await store.wait_for(2 * len(people), 120, side.children)
    await _until_idle(side, 60)
    store.reset()


async def burst(
    side: Side, store: TimedStore, people: list[Recipient], concurrency: int, limit_s: float
) -> Burst:
    """Enroll everyone at once (``concurrency`` requests in flight); wait for 2N messages."""
    store.reset()
    before = snapshot(side)
    buckets_before = await side.task_latency_buckets()
    counters_before = await side.server_counters()
    t0 = time.time()
    await _enroll_all(side, people, concurrency)
    enrolled = time.time()
    await store.wait_for(2 * len(people), limit_s, side.children)
    await _until_idle(side, limit_s)
    closed = time.time()
    after = snapshot(side)
    buckets_after = await side.task_latency_buckets()
    counters_after = await side.server_counters()
    task_buckets = None
    if buckets_before is not None and buckets_after is not None:
        task_buckets = {le: n - buckets_before.get(le, 0.0) for le, n in buckets_after.items()}
    return Burst(
        n=len(people), enroll_s=enrolled - t0, last_message_s=store.last_at - t0,
        closed_s=closed - t0, duplicates=store.duplicates,
        cpu_s={name: after[name].cpu_s - before[name].cpu_s for name in after},
        task_buckets=task_buckets,
        server_ops={k: v - counters_before.get(k, 0.0) for k, v in counters_after.items()
                    if v - counters_before.get(k, 0.0) > 0},
    )


async def paced(
    side: Side, store: TimedStore, people: list[Recipient], rate: float, limit_s: float
) -> Paced:
    """Open loop: one enrollment every 1/rate s, whether or not earlier ones have answered."""
    store.reset()
    loop = asyncio.get_running_loop()
    started: dict[str, float] = {}
    answered: dict[str, float] = {}

    async def one(person: Recipient) -> None:
        started[person.email] = time.time()
        await side.enroll(person)
        answered[person.email] = time.time()

    begin = loop.time()
    tasks = []
    for i, person in enumerate(people):
        await asyncio.sleep(max(0.0, begin + i / rate - loop.time()))
        tasks.append(asyncio.create_task(one(person)))
    await asyncio.gather(*tasks)
    spread = max(started.values()) - min(started.values())
    await store.wait_for(2 * len(people), limit_s, side.children)
    await _until_idle(side, limit_s)
    return Paced(
        n=len(people),
        rate=(len(people) - 1) / spread if spread > 0 else float("nan"),
        email_ms=[(store.first_at[("email", p.email)] - started[p.email]) * 1000 for p in people],
        request_ms=[(answered[p.email] - started[p.email]) * 1000 for p in people],
        duplicates=store.duplicates,
    )
