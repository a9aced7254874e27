"""The database work of one message through the door, in-process: CPU per message.

    python -m bench.door_cost [--messages 300] [--warm-up 30]

On a SQLite file (WAL, as the worker uses it), with the default policy opened up as in
``bench.run`` (no quiet hours, caps or yielding): for each of N contacts, a run row, then what
the worker does for one message of the benchmark's sequence besides Temporal and the provider
call: ``Door.prepare`` (key, contact, policy, render, claim ``pending``), ``Door.sent`` (the
outcome and its timeline entry) and the step records the run writes (three, as one
``record_steps`` of the bookkeeping local activities). Single-threaded, so the figures are this
thread's CPU time (``time.thread_time``), which other jobs on a shared machine inflate far less
than wall time. Run it from two checkouts to compare code (the API it calls is stable).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from activities.door import Door
from bench.load import percentile
from bench.stack import local_database
from channels.base import SendReceipt
from followthrough.models.runs import DeliverInput, StepRecord
from followthrough.models.vocab import Category, Channel, StepState
from followthrough.rendering import Renderer
from followthrough.store import contacts, policy, runs
from followthrough.store.db import session_scope
from followthrough.store.templates import DbTemplateSource


def _open_policy(engine: object) -> None:
    with session_scope(engine) as session:  # type: ignore[arg-type]
        config = policy.get_config(session)
        document = config.model_dump(mode="json")
        document["quiet_hours"]["channels"] = []
        for category in document["categories"].values():
            category["caps"] = []
            category["yield_after_higher"] = None
        policy.put_config(session, type(config).model_validate(document))


def measure(messages: int, warm_up: int) -> dict[str, list[float]]:
    work = Path(tempfile.mkdtemp(prefix="ft-door-"))
    try:
        settings, engine = local_database(work)
        _open_policy(engine)
        door = Door(engine, Renderer(DbTemplateSource(engine), settings.default_locale), settings)
        total = messages + warm_up
        people: list[tuple[int, str]] = []
        with session_scope(engine) as session:
            for i in range(total):
                contact = contacts.create(session, {"name": f"Person {i}", "email": f"p{i}@example.test",
                                                    "phone": f"+1555{i:07d}"})
                assert contact.id is not None
                run, _ = runs.claim(session, kind="sequence", workflow_id=f"wf-{i}", active_key=f"a-{i}",
                                    contact_id=contact.id, definition_name="bench", definition_version=1)
                people.append((contact.id, run.id))
        out: dict[str, list[float]] = {"prepare": [], "sent": [], "record_steps": [], "message": []}
        now = datetime.now(UTC)
        for i, (contact_id, run_id) in enumerate(people):
            inp = DeliverInput(run_id=run_id, step_id="welcome_email", contact_id=contact_id,
                               channel=Channel.EMAIL, template="welcome", category=Category.SERVICE, at=now)
            key = f"{run_id}:welcome_email:1"
            steps = [StepRecord(run_id=run_id, seq=seq, step_id=f"s{seq}", type="send", state=StepState.DONE,
                                started_at=now, finished_at=now) for seq in (1, 2, 3)]
            t0 = time.thread_time()
            prepared = door.prepare(inp, key, now, [])
            t1 = time.thread_time()
            assert prepared.message is not None, prepared
            door.sent(inp, key, prepared.message, SendReceipt(provider_id=f"<m{i}@bench>"), False)
            t2 = time.thread_time()
            with session_scope(engine) as session:
                runs.record_steps(session, steps)
            t3 = time.thread_time()
            if i >= warm_up:
                for label, took in (("prepare", t1 - t0), ("sent", t2 - t1), ("record_steps", t3 - t2),
                                    ("message", t3 - t0)):
                    out[label].append(took * 1000)
        engine.dispose()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.door_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--warm-up", type=int, default=30)
    args = parser.parse_args(argv)
    out = measure(args.messages, args.warm_up)
    for label, values in out.items():
        mean = sum(values) / len(values)
        print(f"{label:>13}: CPU ms per message mean {mean:6.2f}  p50 {percentile(values, 50):6.2f}"
              f"  p95 {percentile(values, 95):6.2f}")


if __name__ == "__main__":
    main()
