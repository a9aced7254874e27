"""Worker start-up: process start -> the worker polls Temporal (median of ``--runs``).

    python -m bench.startup [--runs 5] [--command "cli.py worker"]

On loopback: a Temporal dev server (bench/stack.py) and a migrated SQLite CRM database; then,
``--runs`` times, ``python cli.py worker`` is spawned and Temporal is asked (every 10 ms,
``DescribeTaskQueue``) until a workflow-task poller with the child's identity (``pid@host``, the
SDK's default) appears. The clock starts just before the fork, so interpreter start-up, imports,
connecting, the migration check and replay preparation all count. Each child is then stopped
with SIGKILL, as a crash would. One warm-up start (not counted) migrates the fresh database, so
the measured starts find it at head, as a restart after a crash does.

Figures are appended to ``bench/RESULTS.md`` (``--no-results`` to skip).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from bench.stack import BENCH_PAYLOAD_KEY, BENCH_SECRET_KEY, Children, proc_stats, start_temporal

TASK_QUEUE = "bench-startup"
POLL_EVERY_S = 0.01


def worker_env(work: Path, address: str) -> dict[str, str]:
    """The worker's environment: only what it needs (no SMTP/Twilio server has to answer
    for a worker to start)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FT_")}
    return env | {
        "FT_DATA_DIR": str(work / "ft"),
        "FT_DATABASE_URL": f"sqlite:///{work / 'ft' / 'followthrough.sqlite3'}",
        "FT_SECRET_KEY": BENCH_SECRET_KEY,
        "FT_PAYLOAD_KEYS": BENCH_PAYLOAD_KEY,
        "FT_TEMPORAL_ADDRESS": address,
        "FT_TASK_QUEUE": TASK_QUEUE,
        "FT_LOG_LEVEL": "WARNING",
    }


def identity(pid: int) -> str:
    """The identity a worker process polls with: the SDK's default, ``pid@host``."""
    return f"{pid}@{socket.gethostname()}"


async def polls(client: Client, task_queue: str, identity: str) -> bool:
    """Whether Temporal lists a workflow-task poller with ``identity`` on ``task_queue`` (a
    poller stays listed for a while after it stops: ask only about a process that is new)."""
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    ))
    return any(p.identity == identity for p in response.pollers)


@dataclass(frozen=True)
class Start:
    wall_s: float  # just before the fork -> Temporal lists the child as a poller
    cpu_s: float  # the child's CPU (user + system) by then: what load on the machine cannot inflate


async def time_to_first_poll(children: Children, client: Client, argv: list[str],
                             env: dict[str, str], limit_s: float = 60.0) -> Start:
    """How long from just before the fork until Temporal lists the child as a poller."""
    started = time.monotonic()
    process = await children.spawn("worker", *argv, env=env)
    try:
        while not await polls(client, TASK_QUEUE, identity(process.pid)):
            if process.returncode is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}; see {children.log_dir}")
            if time.monotonic() - started > limit_s:
                raise RuntimeError(f"the worker did not poll within {limit_s:.0f} s")
            await asyncio.sleep(POLL_EVERY_S)
        return Start(time.monotonic() - started, proc_stats(process.pid).cpu_s)
    finally:
        children.procs.pop("worker", None)
        if process.returncode is None:
            process.kill()
        await process.wait()


async def measure(runs: int, argv: list[str], work: Path,
                  extra_env: dict[str, str]) -> tuple[Start, list[Start]]:
    """(warm-up start on a fresh database, measured starts on a database at head)."""
    children = Children(work)
    try:
        address, _ = await start_temporal(children, "temporal", work)
        client = await Client.connect(address)
        env = worker_env(work, address) | extra_env
        warm_up = await time_to_first_poll(children, client, argv, env)
        times = []
        for _ in range(runs):
            times.append(await time_to_first_poll(children, client, argv, env))
            print(f"  process start -> first poll: {times[-1].wall_s:.2f} s ({times[-1].cpu_s:.2f} CPU-s)",
                  flush=True)
        return warm_up, times
    finally:
        await children.stop_all()


def _markdown(args: argparse.Namespace, warm_up: Start, times: list[Start], loadavg: str) -> str:
    from bench.run import _machine, _temporal_version

    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"## {now} — worker start-up, process start → first poll, median of {len(times)}",
        "",
        f"- Machine: {_machine()} (shared 2-core box: other helpers' jobs may run)",
        f"- Temporal: {_temporal_version()}; `temporal server start-dev --headless`, state in a file",
        f"- Load average before the run: {loadavg}",
        f"- Command: `python -m bench.startup --runs {args.runs} --command \"{args.command}\""
        f"{' --no-bytecode' if args.no_bytecode else ''}`; "
        "the worker is `python " + args.command + "` with the CRM database (SQLite) already at head; "
        "first poll = Temporal's DescribeTaskQueue lists a workflow poller with the child's identity",
        "",
        "| measure | wall (s) | worker CPU (s) |",
        "|---|---:|---:|",
        f"| process start → first poll, median | {_median(times, 'wall_s'):.2f} | {_median(times, 'cpu_s'):.2f} |",
        f"| … each start | {', '.join(f'{t.wall_s:.2f}' for t in times)} | "
        f"{', '.join(f'{t.cpu_s:.2f}' for t in times)} |",
        f"| warm-up start (fresh database: migrations run) | {warm_up.wall_s:.2f} | {warm_up.cpu_s:.2f} |",
        "",
    ])


def _median(starts: list[Start], field: str) -> float:
    return statistics.median(getattr(s, field) for s in starts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--command", default="cli.py worker", help="what `python` runs")
    parser.add_argument("--no-bytecode", action="store_true",
                        help="the worker finds no cached bytecode (an empty PYTHONPYCACHEPREFIX), as "
                             "where nothing compiled it and PYTHONDONTWRITEBYTECODE is set")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    work = Path(tempfile.mkdtemp(prefix="ft-startup-"))
    try:
        extra_env = {"PYTHONPYCACHEPREFIX": str(work / "no-pycache")} if args.no_bytecode else {}
        warm_up, times = asyncio.run(measure(args.runs, [sys.executable, *args.command.split()], work, extra_env))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"median {_median(times, 'wall_s'):.2f} s, {_median(times, 'cpu_s'):.2f} CPU-s "
          f"(warm-up {warm_up.wall_s:.2f} s); load average before: {loadavg}")
    if not args.no_results:
        from bench.run import RESULTS

        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(_markdown(args, warm_up, times, loadavg) + "\n")
        print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
