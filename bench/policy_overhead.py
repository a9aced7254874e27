"""The contact policy's cost per send, against the per-message cost of the foundation benchmark.

    python -m bench.policy_overhead [--iterations 2000] [--recent 50]

In-process, on a SQLite file (WAL, as the worker uses it): one contact (Hungarian mobile number,
so public holidays are loaded; Europe/Budapest) with ``--recent`` sends in the last 24 h across
categories, the default policy (caps, quiet hours).

Measures are taken round-robin, one call of each per round. Timed per call, after a warm-up:

- ``decide()`` alone, the pure decision on a loaded state;
- ``load_state()`` alone (inside a transaction), and ``contact_holidays()``, a part of it;
- the door's decision transaction (BEGIN IMMEDIATE + lock + contact) with and without
  ``load_state`` + ``decide``;
- ``Door.prepare`` end to end (key lookup, render, claim, commit ``pending``) for a contact
  message (policy decided) and for an internal one (``to`` set: no policy), each with a fresh key
  (the claimed row is deleted after each call, untimed, so the contact keeps ``--recent`` sends).

Percentiles are printed and appended to ``bench/RESULTS.md`` with the foundation benchmark's
worker CPU per message (its newest section) for scale.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlmodel import delete

from activities.door import Door
from bench.load import percentile
from bench.run import RESULTS, _machine
from bench.stack import local_database
from followthrough.models.runs import DeliverInput
from followthrough.models.vocab import Category, Channel, LedgerState
from followthrough.policy.contact_policy import MessageIntent, decide
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store import contacts, ledger, policy, policy_state
from followthrough.store.db import session_scope
from followthrough.store.tables import Delivery, TimelineEntry
from followthrough.store.templates import DbTemplateSource

console = Console()
CATEGORIES = [Category.TRANSACTIONAL, Category.SERVICE, Category.SALES, Category.MARKETING]
CHANNELS = [Channel.EMAIL, Channel.SMS, Channel.VOICE]


Timing = tuple[float, float]  # wall µs, CPU µs (this thread)


def _clock() -> Timing:
    return time.perf_counter_ns() / 1000, time.thread_time_ns() / 1000


def _since(start: Timing) -> Timing:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _interleaved(
    calls: dict[str, Callable[[], Timing | None]], iterations: int, warm_up: int
) -> dict[str, list[Timing]]:
    """(wall, CPU) microseconds per call of each measure, taken round-robin (one call of each per
    round) so that load from other jobs on a shared machine falls on every measure alike. A call
    returning a timing reports its own (to leave untimed clean-up out)."""
    out: dict[str, list[Timing]] = {label: [] for label in calls}
    for round_ in range(warm_up + iterations):
        for label, fn in calls.items():
            start = _clock()
            own = fn()
            took = own if own is not None else _since(start)
            if round_ >= warm_up:
                out[label].append(took)
    return out


def _discard(_value: object) -> None:
    return None


def _setup(work: Path, recent: int) -> tuple[Settings, object, int]:
    settings, engine = local_database(work)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        contact = contacts.create(session, {
            "name": "Ilona Kovács", "email": "ilona@example.test", "phone": "+36301234567",
            "locale": "en", "time_zone": "Europe/Budapest"})
        assert contact.id is not None
        for i in range(recent):
            at = now - timedelta(minutes=20 * (i + 1))  # 50 sends: the last ~17 h
            ledger.create(
                session, key=f"recent:{i}", run_id=f"run_recent_{i}", step_id="s", contact_id=contact.id,
                channel=CHANNELS[i % 3], category=CATEGORIES[i % 4], template="welcome",
                state=LedgerState.SENT, attempts=1, decision="send", decided_at=at, sent_at=at,
            )
        contact_id = contact.id
    return settings, engine, contact_id


def measure(iterations: int, recent: int, warm_up: int) -> dict[str, list[Timing]]:
    work = Path(tempfile.mkdtemp(prefix="ft-policy-"))
    try:
        settings, engine, contact_id = _setup(work, recent)
        door = Door(engine, Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name), settings)  # type: ignore[arg-type]
        now = datetime.now(UTC)
        intent = MessageIntent(channel=Channel.EMAIL, category=Category.SERVICE, fallbacks=[Channel.SMS])
        with session_scope(engine) as session:  # type: ignore[arg-type]
            config = policy.get_config(session)
            contact = contacts.get(session, contact_id)
            state = policy_state.load_state(session, contact, now, config)
        assert len(state.recent) == recent, len(state.recent)
        assert decide(intent, state, now, config).verdict == "send"

        def transaction(with_policy: bool) -> Callable[[], None]:
            def run() -> None:
                with session_scope(engine) as session:  # type: ignore[arg-type]
                    policy_state.lock_contact(session, contact_id)
                    row = contacts.get(session, contact_id)
                    if with_policy:
                        decide(intent, policy_state.load_state(session, row, now, config), now, config)
            return run

        def load_only() -> None:
            with session_scope(engine) as session:  # type: ignore[arg-type]
                policy_state.load_state(session, contacts.get(session, contact_id), now, config)

        counter = iter(range(10**9))

        def prepare(internal: bool) -> Callable[[], Timing]:
            def run() -> Timing:
                n = next(counter)
                deliver = DeliverInput(
                    run_id=f"run_bench_{n}", step_id="mail", contact_id=contact_id, channel=Channel.EMAIL,
                    template="welcome", category=Category.SERVICE, fallbacks=[Channel.SMS], at=now,
                    to="rep@example.test" if internal else None,
                )
                start = _clock()
                prepared = door.prepare(deliver, f"bench:{n}", now, [])
                took = _since(start)
                assert prepared.message is not None, prepared.result
                with session_scope(engine) as session:  # type: ignore[arg-type]
                    session.exec(delete(Delivery).where(Delivery.key == f"bench:{n}"))  # type: ignore[call-overload]
                    session.exec(delete(TimelineEntry).where(TimelineEntry.delivery_key == f"bench:{n}"))  # type: ignore[call-overload]
                return took
            return run

        results = _interleaved({
            "decide() alone": lambda: _discard(decide(intent, state, now, config)),
            "contact_holidays() (part of load_state)":
                lambda: _discard(policy_state.contact_holidays(contact, now)),
            "load_state() in a transaction": load_only,
            "decision transaction without policy": transaction(False),
            "decision transaction with load_state + decide": transaction(True),
            "Door.prepare, internal message (no policy)": prepare(True),
            "Door.prepare, contact message (policy decided)": prepare(False),
        }, iterations, warm_up)
        engine.dispose()  # type: ignore[attr-defined]
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _foundation_cpu_per_message() -> tuple[str, float] | None:
    """The newest foundation section's followthrough worker CPU per message (ms), and its title."""
    if not RESULTS.exists():
        return None
    found = None
    title = ""
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and "foundation benchmark" in line:
            title = line[3:]
        match = re.match(r"\| burst: worker CPU per message \(ms\) \| ([\d.]+) \|", line)
        if match:
            found = (title, float(match.group(1)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--recent", type=int, default=50, help="sends to the contact in the last day")
    parser.add_argument("--warm-up", type=int, default=100)
    parser.add_argument("--no-results", action="store_true")
    args = parser.parse_args(argv)
    loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    results = measure(args.iterations, args.recent, args.warm_up)
    foundation = _foundation_cpu_per_message()
    per_msg_us = foundation[1] * 1000 if foundation else None
    rows = []

    def share(us: float) -> str:
        return f"{us / per_msg_us * 100:.1f} %" if per_msg_us else "—"

    p50: dict[str, tuple[float, float]] = {}
    for label, values in results.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        p50[label] = (percentile(wall, 50), percentile(cpu, 50))
        rows.append((label, f"{p50[label][0]:,.0f}", f"{percentile(wall, 95):,.0f}",
                     f"{p50[label][1]:,.0f}", share(p50[label][1])))
    for title, with_, without in [
        ("policy increment in the transaction (p50 difference)",
         "decision transaction with load_state + decide", "decision transaction without policy"),
        ("policy increment in Door.prepare (p50 difference)",
         "Door.prepare, contact message (policy decided)", "Door.prepare, internal message (no policy)"),
    ]:
        wall, cpu = p50[with_][0] - p50[without][0], p50[with_][1] - p50[without][1]
        rows.append((title, f"{wall:,.0f}", "", f"{cpu:,.0f}", share(cpu)))
    table = Table("measure (per call)", "wall p50 µs", "wall p95 µs", "CPU p50 µs", "CPU p50 / worker CPU per msg",
                  title=f"policy overhead, {args.recent} recent sends, {args.iterations} calls")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not args.no_results:
        reference = (f"{foundation[1]:.2f} ms worker CPU per message (followthrough side, section "
                     f"\"{foundation[0]}\")" if foundation else "no foundation section found")
        text = "\n".join([
            f"## {datetime.now(UTC):%Y-%m-%d %H:%M UTC} — contact policy overhead per send",
            "",
            f"- Machine: {_machine()}",
            f"- Load average before the run: {loadavg} (the machine is shared; other jobs may run)",
            f"- In-process, CRM DB SQLite file (WAL, BEGIN IMMEDIATE); one contact (+36 mobile, "
            f"Europe/Budapest: HU holidays loaded) with {args.recent} sends in the last 17 h across "
            "categories and channels; default policy; a `service` email with an SMS fallback (verdict: send)",
            f"- {args.iterations} timed calls each after {args.warm_up} warm-up rounds, the measures "
            "interleaved (one call of each per round); wall time and this thread's CPU time per call",
            f"- Reference: {reference}",
            f"- Command: `python -m bench.policy_overhead --iterations {args.iterations} --recent {args.recent}`",
            "",
            "| measure (per call) | wall p50 µs | wall p95 µs | CPU p50 µs | CPU p50 / foundation worker CPU per message |",
            "|---|---:|---:|---:|---:|",
            *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows],
            "",
        ])
        with RESULTS.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        console.print(f"appended to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
