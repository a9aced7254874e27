"""Foundation benchmark: Followthrough against a bare Temporal workflow, on loopback.

    python -m bench.run [--contacts N] [--paced-rate 10] [--paced-count 100]

For each side, in turn and each with its own SQLite-backed Temporal dev server: a warm-up, a
burst (N enrollments, ``--concurrency`` in flight) measuring messages per second until all 2N
messages (email + SMS) are captured, and a paced phase measuring enroll-to-first-message
latency. Then the memory of each process. The figures are printed and appended to
``bench/RESULTS.md``. Every child process is stopped on any exit.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import load
from bench.load import Burst, Paced, bucket_percentile, percentile
from bench.sides import TEMPORAL_DB, BaselineSide, FollowthroughSide, Side, recipients
from bench.stack import Outbox, ProcStats, start_outbox
from followthrough.devserver import temporal_cli

_TEMPORAL_DB_TEXT = {
    "file": "SQLite file, default pragmas (`--db-filename`)",
    "file-wal": "SQLite file with `--sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal`"
    " (as `make dev` / `followthrough dev` runs it)",
    "memory": "SQLite in memory (no `--db-filename`)",
}
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
_WORKER_TEXT = {
    "one": "`cli.py worker` (1 process, role all, as `make dev` runs it)",
    "split": "`cli.py worker --role workflows` + `cli.py worker --role activities` (worker CPU and memory: "
             "their sums)",
    "two": "two `cli.py worker` processes of role all (worker CPU and memory: their sums)",
}


def temporal_state(temporal_db: str) -> str:
    """How a benchmark's Temporal dev server keeps its state, in words for RESULTS.md (the
    ``file-wal`` choice is what ``make dev`` runs, and says so)."""
    return f"`--temporal-db {temporal_db}`: {_TEMPORAL_DB_TEXT[temporal_db]}"
WARM_UP = 10
#: What the SDK logs when a workflow task ran too long (issue 9: none may appear).
EXCEEDED = "Workflow task duration exceeded"
SETUP_CONCURRENCY = 10
console = Console()


def results_section(title: str, *, temporal_db: str, loadavg: str, facts: list[str],
                    rows: list[tuple[str, str]]) -> str:
    """One bench/RESULTS.md section of a single-column benchmark: its title with the UTC time,
    the machine, the Temporal server and its state, the load before the run, the benchmark's own
    ``facts`` (bullets) and a measure | value table."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"## {now} — {title}",
        "",
        f"- Machine: {_machine()} — the shared 2-core box other jobs use too",
        f"- Temporal: {_temporal_version()}; `temporal server start-dev --headless`, state: "
        f"{temporal_state(temporal_db)}",
        f"- Load average before the run: {loadavg}",
        *[f"- {fact}" for fact in facts],
        "",
        "| measure | value |",
        "|---|---:|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
    ])


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    # The defaults are issue 9's configuration, where its targets are measured.
    parser.add_argument("--contacts", type=int, default=300, help="burst enrollments (N)")
    parser.add_argument("--concurrency", type=int, default=50, help="burst requests in flight")
    parser.add_argument("--paced-rate", type=float, default=2.0, help="paced enrollments per second")
    parser.add_argument("--paced-count", type=int, default=40, help="paced enrollments")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a phase may take")
    parser.add_argument(
        "--temporal-db", choices=sorted(TEMPORAL_DB), default="file-wal",
        help="Temporal dev server state: a SQLite file with WAL + synchronous=normal pragmas as "
        "`make dev` runs it (default), the same with default pragmas, or SQLite in memory",
    )
    parser.add_argument(
        "--py-spy", metavar="FILE", type=Path, default=None,
        help="sample the Followthrough worker with py-spy during the burst; collapsed stacks to FILE "
        "(a split worker: its activities process to FILE.activities; the API to FILE.api) "
        "(CPU figures then include the sampler's cost on this machine)",
    )
    parser.add_argument(
        "--py-spy-gil", action="store_true",
        help="with --py-spy: sample only the thread holding the GIL (Python CPU, not waits)",
    )
    parser.add_argument("--log-level", default="WARNING", help="FT_LOG_LEVEL of the API and worker")
    parser.add_argument("--worker", choices=sorted(_WORKER_TEXT), default="one",
                        help="one worker process of role all, as `make dev` runs it (default); split: "
                             "two, --role workflows and --role activities; two: two of role all "
                             "(CPU and memory figures of two processes are their sums)")
    parser.add_argument(
        "--pairs", type=int, default=1,
        help="measure both sides this many times, alternating which goes first; the table is the "
        "pair with the median worker-CPU ratio, and every pair's ratios are listed (the machine's "
        "speed drifts between runs: one pair's ratio moves by about ±0.2x)")
    parser.add_argument(
        "--server-ops", action="store_true",
        help="also list the Temporal server's requests per message in the burst (frontend RPCs, "
        "persistence calls, history tasks; from its /metrics), where the two sides differ")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, DBs)")
    return parser.parse_args(argv)


async def _measure(side: Side, outbox: Outbox, args: argparse.Namespace) -> dict[str, object]:
    n, p = args.contacts, args.paced_count
    warm = recipients(side.name, "warm", WARM_UP, 0)
    many = recipients(side.name, "burst", n, WARM_UP)
    slow = recipients(side.name, "paced", p, WARM_UP + n)
    console.log(f"{side.name}: starting")
    await side.start(args.concurrency)  # type: ignore[attr-defined]
    try:
        # Setup only, not measured. At 50 in flight `POST /v1/contacts` stalled 30 s and answered
        # 500 "database is locked" (see RESULTS.md), so contacts are created 10 at a time.
        await side.prepare(warm + many + slow, SETUP_CONCURRENCY)
        console.log(f"{side.name}: warm-up ({WARM_UP} contacts)")
        await load.warm_up(side, outbox.store, warm, args.concurrency)
        console.log(f"{side.name}: burst of {n}")
        spy = args.py_spy if side.name == "followthrough" else None
        # One sampler per process of ours: FILE for the (workflows) worker, FILE.activities for
        # a split worker's activities process, FILE.api for the API.
        spied = [("worker", spy), *((name, spy.with_name(f"{spy.name}.{name}")) for name in ("activities", "api"))
                 ] if spy else []
        spied = [(name, out) for name, out in spied if name in side.pids()]
        for name, out in spied:
            await side.children.spawn(
                f"py-spy-{name}", str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                str(side.pids()[name]), "--rate", "100", "--format", "raw", "--nonblocking",
                "--output", str(out.resolve()), *(["--gil"] if args.py_spy_gil else []),
            )
        burst = await load.burst(side, outbox.store, many, args.concurrency, args.timeout)
        for name, _ in spied:
            await side.children.stop(f"py-spy-{name}")
        console.log(f"{side.name}: burst done in {burst.last_message_s:.1f} s; paced {p} at {args.paced_rate}/s")
        paced = await load.paced(side, outbox.store, slow, args.paced_rate, args.timeout)
        memory = load.snapshot(side)
    finally:
        await side.aclose()
    return {"burst": burst, "paced": paced, "memory": memory, "exceeded": side.log_count(EXCEEDED)}


def _machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return (f"{platform.machine()}, {os.cpu_count()} CPUs ({model}), {mem_kb / 1024 / 1024:.1f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def _temporal_version() -> str:
    out = subprocess.run([str(temporal_cli()), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "?"


def _summed(values: dict[str, float], name: str) -> float | None:
    """A process's figure; a split worker's two processes count as the worker."""
    found = [values[n] for n in ([name, "activities"] if name == "worker" else [name]) if n in values]
    return sum(found) if found else None


def _rows(ft: dict[str, object], base: dict[str, object]) -> list[tuple[str, str, str, str]]:
    fb, bb = ft["burst"], base["burst"]
    fp, bp = ft["paced"], base["paced"]
    fm, bm = ft["memory"], base["memory"]
    assert isinstance(fb, Burst) and isinstance(bb, Burst)
    assert isinstance(fp, Paced) and isinstance(bp, Paced)
    assert isinstance(fm, dict) and isinstance(bm, dict)

    def row(label: str, f: float | None, b: float | None, fmt: str, ratio: bool = True) -> tuple[str, str, str, str]:
        cell = lambda v: "—" if v is None else format(v, fmt)  # noqa: E731
        r = f"{f / b:.2f}×" if ratio and f is not None and b else "—"
        return (label, cell(f), cell(b), r)

    def mem(stats: dict[str, ProcStats], name: str, attr: str) -> float | None:
        return _summed({n: getattr(s, attr) for n, s in stats.items()}, name)

    def cpu(b: Burst, name: str) -> float | None:
        return _summed(b.cpu_s, name)

    n2 = 2 * fb.n
    return [
        row("burst: enroll requests answered (s)", fb.enroll_s, bb.enroll_s, ".2f"),
        row("burst: enrollments/s accepted", fb.n / fb.enroll_s, bb.n / bb.enroll_s, ".0f"),
        row(f"burst: all {n2} messages captured (s)", fb.last_message_s, bb.last_message_s, ".2f"),
        row("burst: throughput (messages/s)", fb.throughput, bb.throughput, ".1f"),
        row("burst: all runs closed (s)", fb.closed_s, bb.closed_s, ".2f"),
        row("burst: worker CPU (s)", cpu(fb, "worker"), cpu(bb, "baseline-worker"), ".1f"),
        row("burst: worker CPU per message (ms)", cpu(fb, "worker") * 1000 / n2,  # type: ignore[operator]
            cpu(bb, "baseline-worker") * 1000 / n2, ".2f"),  # type: ignore[operator]
        *([row("burst: … of which the first process (ms; split: workflows)", fb.cpu_s["worker"] * 1000 / n2, None, ".2f", ratio=False),
           row("burst: … of which the second process (ms; split: activities)", fb.cpu_s["activities"] * 1000 / n2, None, ".2f", ratio=False)]
          if "activities" in fb.cpu_s else []),
        row("burst: workflow task execution p99 (ms, SDK histogram bucket bound)",
            bucket_percentile(fb.task_buckets, 99) if fb.task_buckets else None,
            bucket_percentile(bb.task_buckets, 99) if bb.task_buckets else None, ".0f", ratio=False),
        row("burst: workflow task execution p50 (ms, SDK histogram bucket bound)",
            bucket_percentile(fb.task_buckets, 50) if fb.task_buckets else None,
            bucket_percentile(bb.task_buckets, 50) if bb.task_buckets else None, ".0f", ratio=False),
        row("burst: workflow tasks executed", fb.task_buckets.get(math.inf) if fb.task_buckets else None,
            bb.task_buckets.get(math.inf) if bb.task_buckets else None, ".0f", ratio=False),
        row(f'worker log: "{EXCEEDED}" lines', ft["exceeded"], base["exceeded"], "d", ratio=False),  # type: ignore[arg-type]
        row("burst: Temporal server CPU (s)", cpu(fb, "temporal-followthrough"), cpu(bb, "temporal-baseline"), ".1f"),
        row("burst: API CPU (s)", cpu(fb, "api"), None, ".1f", ratio=False),
        row("paced: achieved rate (enrollments/s)", fp.rate, bp.rate, ".2f", ratio=False),
        row("paced: enroll → email p50 (ms)", percentile(fp.email_ms, 50), percentile(bp.email_ms, 50), ".0f"),
        row("paced: enroll → email p95 (ms)", percentile(fp.email_ms, 95), percentile(bp.email_ms, 95), ".0f"),
        row("paced: enroll → email max (ms)", max(fp.email_ms), max(bp.email_ms), ".0f"),
        row("paced: enroll request p50 (ms)", percentile(fp.request_ms, 50), percentile(bp.request_ms, 50), ".0f"),
        row("paced: enroll request p95 (ms)", percentile(fp.request_ms, 95), percentile(bp.request_ms, 95), ".0f"),
        row("worker RSS at end (MiB)", mem(fm, "worker", "rss_mib"), mem(bm, "baseline-worker", "rss_mib"), ".0f"),
        row("worker peak RSS, VmHWM (MiB)", mem(fm, "worker", "hwm_mib"), mem(bm, "baseline-worker", "hwm_mib"), ".0f"),
        row("Temporal server RSS at end (MiB)", mem(fm, "temporal-followthrough", "rss_mib"),
            mem(bm, "temporal-baseline", "rss_mib"), ".0f"),
        row("Temporal server peak RSS (MiB)", mem(fm, "temporal-followthrough", "hwm_mib"),
            mem(bm, "temporal-baseline", "hwm_mib"), ".0f"),
        row("API RSS at end (MiB)", mem(fm, "api", "rss_mib"), None, ".0f", ratio=False),
        row("API peak RSS, VmHWM (MiB)", mem(fm, "api", "hwm_mib"), None, ".0f", ratio=False),
        row("duplicate messages (burst + paced)", fb.duplicates + fp.duplicates, bb.duplicates + bp.duplicates, "d", ratio=False),
    ]


def _server_rows(ft: dict[str, object], base: dict[str, object]) -> list[tuple[str, str, str, str]]:
    """The server's requests per message in the burst, where the sides differ by 0.05 or more,
    the largest difference first."""
    fb, bb = ft["burst"], base["burst"]
    assert isinstance(fb, Burst) and isinstance(bb, Burst)
    m = 2 * fb.n
    per = {k: (fb.server_ops.get(k, 0.0) / m, bb.server_ops.get(k, 0.0) / m)
           for k in fb.server_ops.keys() | bb.server_ops.keys()}
    differ = [(k, f, b) for k, (f, b) in per.items() if abs(f - b) >= 0.05]
    differ.sort(key=lambda kfb: kfb[2] - kfb[1])
    return [(f"`{k}`", f"{f:.2f}", f"{b:.2f}", f"{f - b:+.2f}") for k, f, b in differ]


def _markdown(args: argparse.Namespace, rows: list[tuple[str, str, str, str]], took: float,
              pairs: str | None = None, server: list[tuple[str, str, str, str]] | None = None) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {now} — foundation benchmark, N = {args.contacts}",
        "",
        f"- Machine: {_machine()}",
        f"- Temporal: {_temporal_version()}; `temporal server start-dev --headless`, one per side, "
        f"state: {_TEMPORAL_DB_TEXT[args.temporal_db]}",
        f"- Load average before the run: {args.loadavg} (the machine is shared; other jobs may run)",
        "- Followthrough: `cli.py api` (uvicorn, 1 process) + "
        + _WORKER_TEXT[args.worker]
        + ", CRM DB SQLite "
        f"(WAL), FT_LOG_LEVEL={args.log_level}; enrollments via `POST /v1/sequences/{{name}}/enrollments`",
        "- Baseline: `python -m bench.baseline` worker process (email via aiosmtplib, `workflow.sleep(1 s)`, "
        "SMS via the Twilio SDK; no ledger, DB or templates), started with `client.start_workflow`",
        f"- Load: burst N = {args.contacts} at concurrency {args.concurrency}; paced {args.paced_count} at "
        f"{args.paced_rate:g}/s; {WARM_UP} warm-up runs per side first; outbox SMTP + Twilio servers "
        "in the benchmark process (threads)",
        f"- Command: `python -m bench.run --contacts {args.contacts} --paced-rate {args.paced_rate:g} "
        f"--paced-count {args.paced_count} --temporal-db {args.temporal_db} --worker {args.worker}"
        f"{'' if args.pairs == 1 else f' --pairs {args.pairs}'}` (whole run {took:.0f} s)",
        *([f"- Pairs: {pairs}"] if pairs else []),
        "",
        "| measure | followthrough | baseline | followthrough / baseline |",
        "|---|---:|---:|---:|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        *(["Temporal server requests per message in the burst (family/service/operation), where the "
           "sides differ:", "",
           "| request | followthrough | baseline | difference |", "|---|---:|---:|---:|",
           *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in server], ""] if server else []),
    ]
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="ft-bench-"))
    started = time.monotonic()
    outbox = await asyncio.to_thread(start_outbox, "AC" + secrets.token_hex(16), secrets.token_hex(16))
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # type: ignore[union-attr]
    pairs: list[tuple[dict[str, object], dict[str, object]]] = []
    measured: dict[str, dict[str, object]] = {}
    try:
        for i in range(args.pairs):
            for name in (("ft", "base") if i % 2 == 0 else ("base", "ft")):
                side: Side = (FollowthroughSide(work, outbox, args.log_level, args.temporal_db,
                                                worker=args.worker) if name == "ft"
                              else BaselineSide(work, outbox, args.temporal_db))
                measured[name] = await _measure(side, outbox, args)
            pairs.append((measured["ft"], measured["base"]))
    except BaseException:
        console.print(f"[red]benchmark failed[/red]; logs in {work}")
        args.keep = True
        raise
    finally:
        await asyncio.to_thread(outbox.stop)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    ft, base = _median_pair(pairs)
    rows = _rows(ft, base)
    table = Table("measure", "followthrough", "baseline", "ft / baseline", title=f"N = {args.contacts}")
    for r in rows:
        table.add_row(*r)
    console.print(table)
    server = _server_rows(ft, base) if args.server_ops else None
    if server:
        ops = Table("request", "followthrough", "baseline", "difference",
                    title="Temporal server requests per message in the burst")
        for r in server:
            ops.add_row(*r)
        console.print(ops)
    summary = _pairs_line(pairs)
    if summary:
        console.print(summary)
    text = _markdown(args, rows, time.monotonic() - started, summary, server)
    if not args.no_results:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nEach section: `python -m bench.run`, newest last.\n\n")
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        console.print(f"appended to {RESULTS}")
    duplicates = 0
    for ours, _ in pairs:
        fb, fp = ours["burst"], ours["paced"]
        assert isinstance(fb, Burst) and isinstance(fp, Paced)
        duplicates += fb.duplicates + fp.duplicates
    if duplicates:  # issue 9: never a duplicate because of load
        console.print(f"[red]{duplicates} duplicate messages[/red] (Followthrough)")
        return 1
    return 0


def _ratios(ft: dict[str, object], base: dict[str, object]) -> tuple[float, float]:
    """(worker CPU ratio, throughput ratio) of one pair."""
    fb, bb = ft["burst"], base["burst"]
    assert isinstance(fb, Burst) and isinstance(bb, Burst)
    cpu = (_summed(fb.cpu_s, "worker") or 0.0) / bb.cpu_s["baseline-worker"]
    return cpu, fb.throughput / bb.throughput


def _median_pair(pairs: list[tuple[dict[str, object], dict[str, object]]]
                 ) -> tuple[dict[str, object], dict[str, object]]:
    ranked = sorted(pairs, key=lambda pair: _ratios(*pair)[0])
    return ranked[(len(ranked) - 1) // 2]


def _pairs_line(pairs: list[tuple[dict[str, object], dict[str, object]]]) -> str | None:
    """Every pair's ratios and their medians, when there is more than one pair."""
    if len(pairs) < 2:
        return None
    ratios = [_ratios(*pair) for pair in pairs]
    cpus, throughputs = sorted(r[0] for r in ratios), sorted(r[1] for r in ratios)
    listed = ", ".join(f"{c:.2f}× / {t:.2f}×" for c, t in ratios)
    p99 = ", ".join(f"{_fmt(_p99(ours))} / {_fmt(_p99(bare))}" for ours, bare in pairs)
    ours_p99 = [v for v in (_p99(ours) for ours, _ in pairs) if v is not None]
    bare_p99 = [v for v in (_p99(bare) for _, bare in pairs) if v is not None]
    if ours_p99 and bare_p99:
        p99 += f"; medians {statistics.median(ours_p99):.0f} / {statistics.median(bare_p99):.0f}"
    return (f"{len(pairs)} pairs, alternating which side ran first; worker CPU per message / burst "
            f"throughput, ours to bare, per pair: {listed}; medians {statistics.median(cpus):.2f}× / "
            f"{statistics.median(throughputs):.2f}× (the table: the pair with the median CPU ratio); "
            f"workflow task p99 in the burst, ours / bare, ms (bucket bound) per pair: {p99}")


def _p99(side: dict[str, object]) -> float | None:
    burst = side["burst"]
    assert isinstance(burst, Burst)
    return bucket_percentile(burst.task_buckets, 99) if burst.task_buckets else None


def _fmt(bound: float | None) -> str:
    return "—" if bound is None else f"{bound:.0f}"


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
