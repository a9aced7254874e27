"""Seed what ships with the service: file templates and built-in definitions."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from followthrough.dsl.loader import load_definition_text
from followthrough.dsl.schema import Definition
from followthrough.rendering import FileTemplateSource
from followthrough.settings import Settings
from followthrough.store import definitions, templates
from followthrough.store.db import session_scope


def seed_builtins(engine: Engine, settings: Settings) -> None:
    """File templates are refreshed unless edited through the API; a built-in definition is
    added only when no definition of that name exists (an admin's versions are never touched)."""
    with session_scope(engine) as session:
        if settings.templates_dir.is_dir():
            templates.seed(session, FileTemplateSource(settings.templates_dir).load_all())
        for path in sorted(_definition_files(settings.definitions_dir)):
            definition = load_definition_file(path)
            if definitions.latest_version(session, definition.name) is None:
                definitions.save(
                    session, definition.name, definition.kind,
                    definition.model_dump(mode="json"), publish=True,
                )


def load_definition_file(path: Path) -> Definition:
    """A definition file (YAML, or JSON by its suffix), schema-checked."""
    text = path.read_text(encoding="utf-8")
    return load_definition_text(text, yaml_format=path.suffix != ".json", source=str(path))


def _definition_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.suffix in (".yaml", ".yml", ".json")]
