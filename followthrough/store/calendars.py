"""Business calendars stored in the database; files under ``calendars/`` are seeded, the database
wins for calendars edited through the API (like templates). The calendars built into the code
(``followthrough.calendar.BUILTIN_CALENDARS``) answer for names the database does not have."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from sqlmodel import Session, col, select

from followthrough.calendar import BUILTIN_CALENDARS, Calendar
from followthrough.errors import ErrorList, FieldError, NotFound, ValidationFailed, json_pointer
from followthrough.store.tables import CalendarRow, utcnow


def parse(name: str, document: Any) -> Calendar:
    """A calendar document (without, or with the same, name) as a Calendar; raises
    ValidationFailed with every problem as a JSON Pointer (``/week/mon/0/1``)."""
    if not isinstance(document, dict):
        raise ValidationFailed(f"calendar '{name}' is not an object",
                               errors=[FieldError("", "a calendar is an object with time_zone and week")])
    if document.get("name", name) != name:
        raise ValidationFailed(f"calendar '{name}' has another name in its body",
                               errors=[FieldError("/name", f"must be '{name}' (the name in the path)")])
    try:
        return Calendar.model_validate({**document, "name": name})
    except ValidationError as exc:
        found = ErrorList()
        for error in exc.errors():
            # pydantic marks a bad dict key with a trailing "[key]": the key's path is enough.
            found.add(json_pointer(p for p in error["loc"] if p != "[key]"), error["msg"])
        raise ValidationFailed(f"calendar '{name}' is not valid", errors=found.items) from exc


def document_of(calendar: Calendar) -> dict[str, Any]:
    """The stored (and pinned) shape: everything but the name, as JSON."""
    return calendar.model_dump(mode="json", exclude={"name"})


def put(session: Session, calendar: Calendar, *, source: str = "api") -> tuple[CalendarRow, bool]:
    row = get_row(session, calendar.name)
    created = row is None
    if row is None:
        row = CalendarRow(name=calendar.name)
    row.document = document_of(calendar)
    row.source = source
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row, created


def get_row(session: Session, name: str) -> CalendarRow | None:
    return session.exec(select(CalendarRow).where(CalendarRow.name == name)).first()


def list_all(session: Session) -> list[CalendarRow]:
    return list(session.exec(select(CalendarRow).order_by(col(CalendarRow.name))))


def delete(session: Session, name: str) -> None:
    """Remove a stored calendar. Runs keep the copy they pinned; a file calendar comes back at the
    next start (delete its file too); a built-in one falls back to its code definition."""
    row = get_row(session, name)
    if row is None:
        raise NotFound(f"calendar '{name}' is not stored")
    session.delete(row)
    session.flush()


def seed(session: Session, found: Iterable[Calendar]) -> int:
    """Insert file calendars the database does not have and refresh rows that still come from
    files; rows saved through the API are never overwritten."""
    count = 0
    for calendar in found:
        row = get_row(session, calendar.name)
        if row is None or row.source == "file":
            put(session, calendar, source="file")
            count += 1
    return count


def load_files(root: Path) -> list[Calendar]:
    """Every ``<name>.yaml`` (or ``.yml``) under ``root``; the file name is the calendar's name.
    A broken file raises ValidationFailed naming it: what ships must be valid."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ValidationFailed(f"{path}: the YAML does not parse: {exc}") from exc
        try:
            found.append(parse(path.stem, document))
        except ValidationFailed as exc:
            raise ValidationFailed(f"{path}: {exc.message}", errors=exc.errors) from exc
    return found


def exists(session: Session, name: str) -> bool:
    return name in BUILTIN_CALENDARS or get_row(session, name) is not None


def resolve(session: Session, names: Iterable[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(documents by name, missing names): the database first, then the built-in calendars."""
    documents: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for name in sorted(set(names)):
        row = get_row(session, name)
        if row is not None:
            documents[name] = dict(row.document)
        elif name in BUILTIN_CALENDARS:
            documents[name] = document_of(BUILTIN_CALENDARS[name])
        else:
            missing.append(name)
    return documents, missing


def referenced(document: dict[str, Any]) -> list[str]:
    """The calendars a definition document's business time names: ``wait`` steps' ``business``
    and ``wait_for`` timeouts with ``business: true`` (``default`` when they name none)."""
    names: set[str] = set()
    for step in document.get("steps") or []:
        if not isinstance(step, dict):
            continue
        business, timeout = step.get("business"), step.get("timeout")
        if step.get("type") == "wait" and isinstance(business, dict):
            names.add(str(business.get("calendar") or "default"))
        if step.get("type") == "wait_for" and isinstance(timeout, dict) and timeout.get("business"):
            names.add(str(timeout.get("calendar") or "default"))
    return sorted(names)
