"""AbsenceReportWorkflow on the time-skipping server: when an owner's absence starts, their
manager gets one message, through the real door to the loopback aiosmtpd, listing the owner's
tasks due during it."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from api.services.absences import start_report
from followthrough.store import users
from followthrough.store.db import session_scope
from followthrough.store.tables import Absence
from tests.support.tasks import emails_to, person, stored_task
from tests.workflows import test_task
from tests.workflows.test_task import Env

#: The task tests' worker and loopback outbox.
env = test_task.env


def _weekday_morning(after: datetime) -> datetime:
    """07:00 UTC on the first weekday from ``after``'s next day."""
    day = (after + timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _absence(engine: Engine, user_id: int, starts, ends) -> Absence:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return users.add_absence(session, user_id, starts, ends, "holiday")


async def test_the_manager_hears_of_the_tasks_due_during_the_absence_when_it_starts(env: Env) -> None:
    boss = person(env.engine, "Boss", role="manager", time_zone="Europe/Moscow", locale="ru")
    rep = person(env.engine, "Olga", manager_id=boss)
    now = await env.ts.get_current_time()
    starts = _weekday_morning(now + timedelta(hours=12))  # 10:00 in Moscow: the manager is at work
    ends = starts + timedelta(days=3)
    first = starts + timedelta(hours=2)
    second = starts + timedelta(days=1, hours=5)
    for title, due in (("Call Anna", first), ("Send the quote", second), ("After the holiday", ends)):
        stored_task(env.engine, rep, title, due)
    absence = _absence(env.engine, rep, starts, ends)
    await start_report(env.ts.client, env.settings, absence)

    await env.ts.sleep(starts - timedelta(minutes=1) - now)
    assert emails_to(env.outbox, "boss@example.test") == []
    await env.ts.sleep(timedelta(minutes=2))
    assert await env.ts.client.get_workflow_handle(f"absence-{absence.id}").result() == "sent"

    [email] = emails_to(env.outbox, "boss@example.test")
    assert email.subject == "Olga отсутствует: 2 задачи на это время"
    lines = [line for line in email.text.splitlines() if line.startswith("- ")]
    moscow = ZoneInfo("Europe/Moscow")
    assert [line.split(" (")[0] for line in lines] == ["- Call Anna", "- Send the quote"]
    for line, due in zip(lines, (first, second), strict=True):
        assert f"{due.astimezone(moscow):%H:%M}" in line  # in the manager's zone
    assert emails_to(env.outbox, "olga@example.test") == []


async def test_a_deleted_absence_or_one_with_nothing_due_reports_nothing(env: Env) -> None:
    boss = person(env.engine, "Chief", role="manager")
    rep = person(env.engine, "Ivan", manager_id=boss)
    now = await env.ts.get_current_time()
    starts = now + timedelta(hours=5)
    stored_task(env.engine, rep, "Call Anna", starts + timedelta(hours=1))
    deleted = _absence(env.engine, rep, starts, starts + timedelta(days=1))
    quiet = _absence(env.engine, rep, starts + timedelta(days=2), starts + timedelta(days=3))
    for absence in (deleted, quiet):
        await start_report(env.ts.client, env.settings, absence)
    with session_scope(env.engine) as session:
        users.delete_absence(session, rep, deleted.id)  # type: ignore[arg-type]

    await env.ts.sleep(timedelta(days=3))
    for absence in (deleted, quiet):
        assert await env.ts.client.get_workflow_handle(f"absence-{absence.id}").result() == "nothing_to_report"
    assert emails_to(env.outbox, "chief@example.test") == []
