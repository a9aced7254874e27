"""The RFC 5545 invitation a task's reminder email carries, so the rep's own calendar follows
the task: one stable UID per task, SEQUENCE raised on every reschedule (§3.8.7.4), and
METHOD:CANCEL with STATUS:CANCELLED when the task is cancelled (RFC 5546 §3.2.5).

Pure: the stamp is the run's clock (the same bytes on a retry of the same message).
"""

from __future__ import annotations

from datetime import UTC, datetime

from followthrough.models.tasks import Invite

PRODID = "-//Followthrough//Tasks//EN"


def task_uid(task_id: int, domain: str) -> str:
    """One UID per task for its whole life (RFC 5545 §3.8.4.7: globally unique, stable)."""
    return f"task-{task_id}@{domain}"


def build_ics(invite: Invite, *, organizer: str, attendee: str, summary: str, description: str,
              stamp: datetime) -> bytes:
    """The ``text/calendar`` body: one VEVENT for the task, in UTC."""
    # Imported on first use: a restarted worker does not pay for it before it polls (issue 9).
    from icalendar import Calendar, Event, vCalAddress, vText

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", invite.method)
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", invite.starts_at.astimezone(UTC))
    event.add("dtend", (invite.starts_at + invite.duration).astimezone(UTC))
    event.add("summary", vText(summary))
    if description:
        event.add("description", vText(description))
    event.add("status", "CANCELLED" if invite.method == "CANCEL" else "CONFIRMED")
    event.add("organizer", vCalAddress(f"mailto:{organizer}"))
    person = vCalAddress(f"mailto:{attendee}")
    person.params["role"] = vText("REQ-PARTICIPANT")
    person.params["partstat"] = vText("ACCEPTED")
    event.add("attendee", person, encode=False)
    calendar.add_component(event)
    return calendar.to_ical()
