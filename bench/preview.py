"""How long a preview takes: a 10-step sequence spanning 30 days, for a stored contact.

    python -m bench.preview [--iterations 50]

In-process, on a SQLite file (WAL, as the API uses it), the built-in templates, the default
contact policy (quiet hours, marketing caps). The contact is Russian with a Russian mobile
number, so each send's policy state loads public holidays. The sequence: email, 3 days, SMS,
8 working hours on ``budapest_office``, a call, 7 days, email, until 09:30 local, SMS, 19 days.

Timed per call: ``preview_sequence`` (the service) and ``POST /v1/definitions/{name}/preview``
(the endpoint, through an in-process ASGI transport). The first call (cold caches: template
compilation, holiday tables) is reported apart from the median and p95 of the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console

from bench.load import percentile
from bench.run import _machine
from bench.stack import local_database
from followthrough.preview import preview_sequence
from followthrough.rendering import Renderer
from followthrough.settings import Settings
from followthrough.store import contacts, definitions
from followthrough.store.db import session_scope
from followthrough.store.templates import DbTemplateSource

console = Console()
START = datetime(2024, 6, 3, 7, tzinfo=UTC)  # a Monday morning
STEPS = [
    {"id": "welcome", "type": "send", "channel": "email", "template": "welcome"},
    {"id": "three_days", "type": "wait", "duration": "P3D"},
    {"id": "nudge", "type": "send", "channel": "sms", "template": "welcome_followup"},
    {"id": "office", "type": "wait", "business": {"duration": "PT8H", "calendar": "budapest_office"}},
    {"id": "call", "type": "send", "channel": "voice", "template": "welcome_call"},
    {"id": "a_week", "type": "wait", "duration": "P7D"},
    {"id": "reminder", "type": "send", "channel": "email", "template": "welcome"},
    {"id": "morning", "type": "wait", "until_local_time": "09:30"},
    {"id": "last_nudge", "type": "send", "channel": "sms", "template": "welcome_followup"},
    {"id": "settle", "type": "wait", "duration": "P19D"},
]


def _setup(work: Path) -> tuple[Settings, object, int]:
    settings, engine = local_database(work)
    document = {"name": "thirty_days", "kind": "sequence", "category": "marketing",
                "locales": ["en", "ru", "hu"], "stop_on": ["reply"], "steps": STEPS}
    with session_scope(engine) as session:
        definitions.save(session, "thirty_days", "sequence", document, publish=True)
        contact = contacts.create(session, {
            "name": "Анна Иванова", "email": "anna@example.test", "phone": "+79161234567",
            "locale": "ru", "time_zone": "Europe/Moscow"})
        contact_id = contact.id
    assert contact_id is not None
    return settings, engine, contact_id


def _report(label: str, timings: list[float]) -> str:
    first, rest = timings[0], timings[1:]
    line = (f"{label}: first {first:.1f} ms, median {statistics.median(rest):.1f} ms, "
            f"p95 {percentile(rest, 95):.1f} ms ({len(rest)} calls)")
    console.print(line)
    return line


async def _endpoint(settings: Settings, engine: object, contact_id: int, iterations: int) -> list[float]:
    from api.app import create_app

    app = create_app(settings, engine=engine)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {settings.admin_api_key}"}
    body = {"contact_id": contact_id, "start": START.isoformat()}
    timings: list[float] = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench",
                                 headers=headers) as client:
        for _ in range(iterations):
            began = time.perf_counter()
            response = await client.post("/v1/definitions/thirty_days/preview", json=body)
            timings.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"preview failed: {response.status_code} {response.text}")
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ft-preview-"))
    try:
        settings, engine, contact_id = _setup(work)
        renderer = Renderer(DbTemplateSource(engine), settings.default_locale, settings.brand_name)  # type: ignore[arg-type]
        timings: list[float] = []
        result = None
        for _ in range(args.iterations):
            began = time.perf_counter()
            result = preview_sequence(engine, renderer, "thirty_days", start=START,  # type: ignore[arg-type]
                                      contact_id=contact_id)
            timings.append((time.perf_counter() - began) * 1000)
        assert result is not None and result.end is not None
        span = result.end.at - START
        console.print(f"{_machine()}, {datetime.now(UTC):%Y-%m-%d}")
        console.print(f"{len(result.steps)} steps over {span.days} days {span.seconds // 3600} h; "
                      f"states {[s.state.value for s in result.steps]}")
        _report("preview_sequence", timings)
        _report("POST /v1/definitions/{name}/preview",
                asyncio.run(_endpoint(settings, engine, contact_id, args.iterations)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
