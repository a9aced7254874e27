"""Seed what ships with the service (file templates, calendars, built-in definitions), and the
look-ups that full validation of a definition needs, over any template source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from followthrough.dsl.checks import References
from followthrough.dsl.kinds import Parsed
from followthrough.dsl.loader import load_definition_text, parse_document
from followthrough.dsl.validate import SmsSegments, TemplateLookup
from followthrough.errors import ValidationFailed
from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.rendering import FileTemplateSource, Renderer, TemplateError, TemplateSource
from followthrough.settings import Settings
from followthrough.sms_encoding import sms_info
from followthrough.store import calendars, definitions, teams, templates
from followthrough.store.db import session_scope
from followthrough.store.tables import User


def calendars_dir(settings: Settings) -> Path:
    """Where calendar files live (``FT_CALENDARS_DIR``)."""
    return settings.calendars_dir


def seed_builtins(engine: Engine, settings: Settings) -> None:
    """File templates and calendars are refreshed unless edited through the API; a built-in
    definition of any kind is added, published, only when no definition of that name exists
    (an admin's versions are never touched)."""
    file_calendars = calendars.load_files(calendars_dir(settings))
    with session_scope(engine) as session:
        if settings.templates_dir.is_dir():
            templates.seed(session, FileTemplateSource(settings.templates_dir).load_all())
        calendars.seed(session, file_calendars)
        for path in sorted(_definition_files(settings.definitions_dir)):
            definition = load_definition_file(path)
            if definitions.latest_version(session, definition.name) is None:
                definitions.save(
                    session, definition.name, definition.kind,
                    definition.model_dump(mode="json"), publish=True,
                )


def load_definition_file(path: Path) -> Parsed:
    """A definition file (YAML, or JSON by its suffix), schema-checked."""
    text = path.read_text(encoding="utf-8")
    return load_definition_text(text, yaml_format=path.suffix != ".json", source=str(path))


def read_definition_document(path: Path) -> Any:
    """A definition file parsed (YAML, or JSON by its suffix) but not checked; an unreadable or
    unparsable file raises ValidationFailed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValidationFailed(f"cannot read it: {reason}") from exc
    return parse_document(text, yaml_format=path.suffix != ".json")


def definition_files(target: Path) -> list[Path]:
    """The definition files of a directory (sorted), or the file itself."""
    return sorted(_definition_files(target)) if target.is_dir() else [target]


def _definition_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.suffix in (".yaml", ".yml", ".json")]


def store_references(session: Session) -> References:
    """``validate``'s references from the database: teams with their member counts, every
    definition's kind, every user id."""
    return References(teams=teams.member_counts(session), definitions=definitions.kinds(session),
                      users={i for i in session.exec(select(User.id)) if i is not None})


def template_lookup(source: TemplateSource) -> TemplateLookup:
    """``validate``'s template check over a source: the locale or its language (``ru-RU`` ->
    ``ru``); the default locale does not count, since the definition declares its locales."""

    def exists(channel: str, name: str, locale: str) -> bool:
        candidates = dict.fromkeys([locale, locale.split("-")[0]])
        return any(source.get(Channel(channel), name, c) is not None for c in candidates)

    return exists


def sms_segment_counter(renderer: Renderer, time_zone: str = "UTC") -> SmsSegments:
    """``validate``'s SMS length check: segments of the template rendered for a sample contact in
    that locale, or None when it does not render without run data (the check is a warning)."""

    def count(name: str, locale: str) -> int | None:
        sample = ContactSnapshot(name="Anna Sample", email="anna@example.com", phone="+15555550100",
                                 locale=locale, time_zone=time_zone)
        try:
            message = renderer.render(Channel.SMS, name, sample)
        except TemplateError:
            return None
        return sms_info(message.text).segments

    return count
