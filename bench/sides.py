"""The two things measured: Followthrough (API + worker processes) and the bare baseline worker.

Each side owns its own Temporal dev server, so the server's memory and CPU figures belong to
one side only. Both share the outbox (threads of the benchmark process).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.client import Client

from bench.baseline import WORKFLOW_NAME, BaselineInput
from bench.stack import (
    BENCH_PAYLOAD_KEY,
    BENCH_SECRET_KEY,
    Children,
    Outbox,
    free_port,
    start_temporal,
    wait_port,
)
from followthrough.codec import encrypting_converter, parse_keys

ADMIN_KEY = "bench-admin-key-" + "0" * 24
SEQUENCE = "bench_sequence"
#: The 3-step sequence of the brief: email, 1 s durable wait, SMS.
DEFINITION = {
    "name": SEQUENCE,
    "kind": "sequence",
    "description": "Benchmark: welcome email, 1 s wait, follow-up SMS.",
    "category": "service",
    "locales": ["en"],
    "steps": [
        {"id": "welcome_email", "type": "send", "channel": "email", "template": "welcome"},
        {"id": "pause", "type": "wait", "duration": "PT1S"},
        {"id": "followup_sms", "type": "send", "channel": "sms", "template": "welcome_followup"},
    ],
}


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    phone: str


def recipients(side: str, group: str, count: int, offset: int) -> list[Recipient]:
    """Distinct addresses; phones are +1 555 numbers (possible, never real)."""
    return [
        Recipient(f"{group.title()} Person{i}", f"{side}-{group}-{i}@example.test",
                  f"+1555{offset + i:07d}")
        for i in range(count)
    ]


#: Counters of the Temporal server (``--metrics-port``), by operation: frontend RPCs, persistence
#: calls and history tasks processed.
_SERVER_COUNTER = re.compile(
    r'^(?P<family>service_requests|persistence_requests|visibility_persistence_requests|task_requests)'
    r'\{(?P<labels>[^}]*)\} (?P<count>\S+)$')
_LABEL = re.compile(r'(\w+)="([^"]*)"')
_TASK_BUCKET = re.compile(
    r'^temporal_workflow_task_execution_latency(?:_milliseconds)?_bucket\{.*le="(?P<le>[^"]+)"\} (?P<count>\S+)$')

#: ``--temporal-db`` choices -> (state in a file?, extra ``start-dev`` flags).
TEMPORAL_DB: dict[str, tuple[bool, tuple[str, ...]]] = {
    "file": (True, ()),  # default pragmas
    # as `make dev` runs it (devstack.py)
    "file-wal": (True, ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal")),
    "memory": (False, ()),
}


def server_counters(text: str) -> dict[str, float]:
    """The request counters in a Temporal server's Prometheus text, ``family/service/operation``
    -> count, every other label summed (history tasks by their ``task_type``)."""
    counters: dict[str, float] = {}
    for line in text.splitlines():
        match = _SERVER_COUNTER.match(line)
        if match:
            labels = dict(_LABEL.findall(match["labels"]))
            what = labels.get("operation", "?")
            if match["family"] == "task_requests":
                what = labels.get("task_type", what)
            key = f"{match['family']}/{labels.get('service_name', '?')}/{what}"
            counters[key] = counters.get(key, 0.0) + float(match["count"])
    return counters


class Side:
    name: str
    work: Path
    temporal_db: str = "file"
    task_queue: str
    client: Client
    children: Children

    async def prepare(self, people: list[Recipient], concurrency: int) -> None:
        """Whatever must exist before ``enroll`` (contacts)."""

    async def enroll(self, person: Recipient) -> None:
        raise NotImplementedError

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.children.procs.items()}

    #: Where the side's worker serves its SDK metrics (Prometheus), None: it does not.
    metrics_bind: str | None = None

    async def task_latency_buckets(self) -> dict[float, float] | None:
        """The worker's workflow task execution latency histogram (cumulative counts by upper
        bound in ms, every label set summed), when the side exposes SDK metrics."""
        if self.metrics_bind is None:
            return None
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{self.metrics_bind}/metrics")).text
        buckets: dict[float, float] = {}
        for line in text.splitlines():
            match = _TASK_BUCKET.match(line)
            if match:
                bound = float(match["le"])
                buckets[bound] = buckets.get(bound, 0.0) + float(match["count"])
        return buckets

    #: Where the side's Temporal server serves its metrics (Prometheus).
    server_metrics: str | None = None

    async def server_counters(self) -> dict[str, float]:
        """The Temporal server's request counters, ``family/service/operation`` -> count (every
        other label summed; history tasks by ``task_type``)."""
        if self.server_metrics is None:
            return {}
        async with httpx.AsyncClient() as http:
            return server_counters((await http.get(f"http://{self.server_metrics}/metrics")).text)

    async def _start_temporal(self, name: str) -> str:
        db_file, extra = TEMPORAL_DB[self.temporal_db]
        port = free_port()
        address, _ = await start_temporal(
            self.children, name, self.work, db_file=db_file, extra=(*extra, "--metrics-port", str(port)))
        self.server_metrics = f"127.0.0.1:{port}"
        return address

    def log_count(self, text: str) -> int | None:
        """Lines of the worker's log containing ``text`` (None: not known for this side)."""
        return None

    async def running(self) -> int:
        query = f'TaskQueue="{self.task_queue}" AND ExecutionStatus="Running"'
        return (await self.client.count_workflows(query)).count

    async def aclose(self) -> None:
        await self.children.stop_all()


class FollowthroughSide(Side):
    """Temporal dev server, ``cli.py api`` and ``cli.py worker`` as child processes."""

    name = "followthrough"

    def __init__(self, work: Path, outbox: Outbox, log_level: str, temporal_db: str,
                 worker: str = "one") -> None:
        #: ``one``: one worker process (role all); ``split``: two, ``--role workflows`` and
        #: ``--role activities``; ``two``: two processes of role all.
        self.worker = worker
        self.work = work
        self.temporal_db = temporal_db
        self.outbox = outbox
        self.log_level = log_level
        self.task_queue = "bench-followthrough"
        self.children = Children(work)
        self.contact_ids: dict[str, int] = {}
        self.http: httpx.AsyncClient | None = None
        self.metrics_bind = f"127.0.0.1:{free_port()}"

    async def start(self, concurrency: int) -> None:
        address = await self._start_temporal("temporal-followthrough")
        self.client = await Client.connect(
            address, data_converter=encrypting_converter(parse_keys(BENCH_PAYLOAD_KEY)))
        api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FT_")}
        env |= {
            "FT_DATA_DIR": str(self.work / "ft"),
            "FT_DATABASE_URL": f"sqlite:///{self.work / 'ft' / 'followthrough.sqlite3'}",
            "FT_ADMIN_API_KEY": ADMIN_KEY,
            "FT_SECRET_KEY": BENCH_SECRET_KEY,
            "FT_PAYLOAD_KEYS": BENCH_PAYLOAD_KEY,
            "FT_TEMPORAL_ADDRESS": address,
            "FT_TASK_QUEUE": self.task_queue,
            "FT_API_HOST": "127.0.0.1",
            "FT_API_PORT": str(api_port),
            "FT_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
            "FT_SMTP_HOST": "127.0.0.1",
            "FT_SMTP_PORT": str(self.outbox.smtp.port),
            "FT_SMTP_STARTTLS": "false",
            "FT_TWILIO_ACCOUNT_SID": self.outbox.twilio.account_sid,
            "FT_TWILIO_AUTH_TOKEN": self.outbox.twilio.auth_token,
            "FT_TWILIO_API_BASE": self.outbox.twilio.base_url,
            "FT_LOG_LEVEL": self.log_level,
            "FT_WORKER_METRICS_BIND": self.metrics_bind,
            # The benchmark is one API key writing thousands of contacts and enrollments.
            "FT_RATE_LIMIT_WRITES": "1000000/minute",
        }
        # The API migrates and seeds the database; the worker starts once it answers.
        api = await self.children.spawn("api", sys.executable, "cli.py", "api", env=env)
        await wait_port(api_port, 60, api)
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            limits=httpx.Limits(max_connections=concurrency + 10, max_keepalive_connections=concurrency + 10),
            timeout=120,
        )
        for _ in range(100):
            if (await self.http.get("/healthz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError("the API's /healthz never answered 200")
        if self.worker == "split":
            await self.children.spawn("worker", sys.executable, "cli.py", "worker", "--role", "workflows", env=env)
            await self.children.spawn("activities", sys.executable, "cli.py", "worker", "--role", "activities",
                                      env=env | {"FT_WORKER_METRICS_BIND": ""})
        elif self.worker == "two":
            # The second process's workflow tasks are not in the latency histogram.
            await self.children.spawn("worker", sys.executable, "cli.py", "worker", env=env)
            await self.children.spawn("activities", sys.executable, "cli.py", "worker",
                                      env=env | {"FT_WORKER_METRICS_BIND": ""})
        else:
            await self.children.spawn("worker", sys.executable, "cli.py", "worker", env=env)
        await self.save_and_publish(DEFINITION)
        await self.open_policy()

    async def open_policy(self) -> None:
        """No quiet hours, caps or yielding, so the contact policy decides (and is paid for) on
        every send but never defers: the benchmark measures delivery, not the wall clock."""
        assert self.http is not None
        document = (await self.http.get("/v1/policy")).json()
        document["quiet_hours"]["channels"] = []
        for category in document["categories"].values():
            category["caps"] = []
            category["yield_after_higher"] = None
        response = await self.http.put("/v1/policy", json=document)
        if response.status_code != 200:
            raise RuntimeError(f"PUT /v1/policy: {response.status_code} {response.text}")

    async def save_and_publish(self, document: dict) -> None:  # type: ignore[type-arg]
        """Save a definition and make it active (a save alone changes nothing that runs)."""
        assert self.http is not None
        response = await self.http.post("/v1/definitions", json=document)
        if response.status_code not in (200, 201):
            raise RuntimeError(f"POST /v1/definitions: {response.status_code} {response.text}")
        published = await self.http.post(f"/v1/definitions/{document['name']}/publish", json={})
        if published.status_code != 200:
            raise RuntimeError(f"publish: {published.status_code} {published.text}")

    async def prepare(self, people: list[Recipient], concurrency: int) -> None:
        assert self.http is not None
        gate = asyncio.Semaphore(concurrency)

        async def create(person: Recipient) -> None:
            async with gate:
                body = {"name": person.name, "email": person.email, "phone": person.phone}
                response = await self.http.post("/v1/contacts", json=body)  # type: ignore[union-attr]
            if response.status_code != 201:
                raise RuntimeError(f"POST /v1/contacts: {response.status_code} {response.text}")
            self.contact_ids[person.email] = response.json()["id"]

        await asyncio.gather(*(create(p) for p in people))

    def log_count(self, text: str) -> int | None:
        logs = [self.work / f"{name}.log" for name in ("worker", "activities")]
        return sum(log.read_text(errors="replace").count(text) for log in logs if log.exists())

    async def enroll(self, person: Recipient) -> None:
        response = await self.http.post(  # type: ignore[union-attr]
            f"/v1/sequences/{SEQUENCE}/enrollments", json={"contact_id": self.contact_ids[person.email]}
        )
        if response.status_code != 201:
            raise RuntimeError(f"enrollment: {response.status_code} {response.text[:200]}")

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
        await super().aclose()


class BaselineSide(Side):
    """Temporal dev server and ``python -m bench.baseline`` (its own worker process);
    workflows are started from this process with ``client.start_workflow``."""

    name = "baseline"

    def __init__(self, work: Path, outbox: Outbox, temporal_db: str) -> None:
        self.work = work
        self.temporal_db = temporal_db
        self.outbox = outbox
        self.task_queue = "bench-baseline"
        self.children = Children(work)
        self.metrics_bind = f"127.0.0.1:{free_port()}"

    async def start(self, concurrency: int) -> None:
        address = await self._start_temporal("temporal-baseline")
        self.client = await Client.connect(address)
        await self.children.spawn(
            "baseline-worker", sys.executable, "-m", "bench.baseline", "--address", address,
            "--task-queue", self.task_queue, "--smtp-port", str(self.outbox.smtp.port),
            "--twilio-base", self.outbox.twilio.base_url,
            "--twilio-sid", self.outbox.twilio.account_sid,
            "--twilio-token", self.outbox.twilio.auth_token, "--metrics-bind", self.metrics_bind,
        )

    async def enroll(self, person: Recipient) -> None:
        await self.client.start_workflow(
            WORKFLOW_NAME, BaselineInput(person.name, person.email, person.phone),
            id=f"baseline-{person.email}", task_queue=self.task_queue,
        )
