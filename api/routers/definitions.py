"""Definitions: save (validated fully, never active until published), publish, versions, diff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlmodel import Session

from api.deps import EngineDep, RendererDep, SettingsDep
from api.schemas.common import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, Version, page_at
from api.schemas.definitions import (
    DefinitionDiff,
    DefinitionPublic,
    PublishRequest,
    StepChanges,
    VersionSummary,
)
from followthrough.bootstrap import sms_segment_counter, store_references, template_lookup
from followthrough.calendar import BUILTIN_CALENDARS
from followthrough.dsl import kinds
from followthrough.dsl.kinds import Parsed
from followthrough.dsl.loader import parse_document
from followthrough.dsl.validate import validate
from followthrough.errors import FieldError, UnsupportedMediaType, ValidationFailed
from followthrough.rendering import Renderer
from followthrough.store import calendars, definitions
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import DefinitionVersion

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
KindQuery = Annotated[kinds.Kind | None, Query(description="only definitions of this kind")]


@router.get("/schema", summary="The JSON Schema of definition documents (every kind, or one)")
def definition_schema(kind: KindQuery = None) -> dict[str, Any]:
    """The union of every kind, discriminated on ``kind`` (a document without one is a
    sequence), or ``?kind=`` one kind's schema."""
    return kinds.schema(kind)


@router.post(
    "",
    response_model=DefinitionPublic,
    status_code=201,
    responses={200: {"model": DefinitionPublic, "description": "Identical to the newest version"}},
    summary="Save a new version (JSON, or YAML with Content-Type: application/yaml)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
    }}},
)
async def save_definition(
    request: Request, engine: EngineDep, renderer: RendererDep, settings: SettingsDep,
) -> JSONResponse:
    """Validate fully and store a new version: 201, not active until published. A sequence:
    schema, steps, templates per locale, calendars, expressions (SMS length as warnings); a
    lead or SLA policy: schema, expressions, teams (with members), calendars, the nurture
    sequence, users told, ladders. A document identical to the newest version stores nothing:
    200 with ``created: false``. A 422 lists every problem; a name that holds another kind is
    a 409."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in ("application/json", *_YAML_TYPES):
        raise UnsupportedMediaType(
            f"Send the definition as application/json or application/yaml, not '{content_type}'."
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The body is not UTF-8 text.") from exc
    document = parse_document(text, yaml_format=content_type in _YAML_TYPES)
    definition, warnings = await run_in_threadpool(
        _validated, engine, renderer, settings.default_time_zone, document)
    body = await run_in_threadpool(_save, engine, definition)
    body["warnings"] = [{"path": w.path, "message": w.message} for w in warnings]
    return JSONResponse(body, status_code=201 if body["created"] else 200)


def _validated(engine: Engine, renderer: Renderer, time_zone: str, document: Any
               ) -> tuple[Parsed, list[FieldError]]:
    # Nothing is written while validating, and no session stays open: on SQLite every
    # transaction takes the write lock, and the renderer reads templates through its own.
    with Session(engine) as session:
        known = set(BUILTIN_CALENDARS) | {row.name for row in calendars.list_all(session)}
        references = store_references(session)
    definition, problems, warnings = validate(
        document, template_lookup(renderer.source), calendar_exists=known.__contains__,
        sms_segments=sms_segment_counter(renderer, time_zone), references=references,
    )
    if definition is None:
        raise ValidationFailed(
            f"The definition has {len(problems)} problem(s); nothing was saved.", errors=problems
        )
    return definition, warnings


def _save(engine: Engine, definition: Parsed) -> dict[str, Any]:
    with session_scope(engine) as session:
        row, created = definitions.save(
            session, definition.name, definition.kind, definition.model_dump(mode="json"), publish=False
        )
        return _public(session, row, created=created).model_dump(mode="json")


def _public(session: Session, row: DefinitionVersion, *, created: bool | None = None) -> DefinitionPublic:
    current = definitions.active(session, row.name)
    latest = definitions.latest_version(session, row.name)
    return DefinitionPublic.of(row, created=created, versions=latest.version if latest else None,
                               active=current is not None and current.id == row.id)


@router.post("/{name}/publish", response_model=DefinitionPublic, summary="Make a version active")
def publish_definition(
    name: str, engine: EngineDep, body: PublishRequest | None = None,
) -> DefinitionPublic:
    """Publish ``version`` (default: the newest): new enrollments use it; runs already started
    keep the version they started with. Publishing an older version makes it active again."""
    with session_scope(engine) as session:
        row = definitions.publish(session, name, body.version if body else None)
        return _public(session, row)


@router.get("", response_model=Page[DefinitionPublic], summary="Every definition, newest version")
def list_definitions(engine: EngineDep, cursor: CursorQuery = None, limit: LimitQuery = DEFAULT_LIMIT,
                     kind: KindQuery = None) -> Page[DefinitionPublic]:
    with session_scope(engine) as session:
        page = page_at(definitions.list_latest(session, kind), cursor, limit)
        items = []
        for row, count in page.items:
            current = definitions.active(session, row.name)
            active = current is not None and current.id == row.id
            items.append(DefinitionPublic.of(row, versions=count, active=active))
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/{name}/versions", response_model=Page[VersionSummary], summary="Every version")
def list_versions(name: str, engine: EngineDep, cursor: CursorQuery = None,
                  limit: LimitQuery = DEFAULT_LIMIT) -> Page[VersionSummary]:
    with session_scope(engine) as session:
        page = page_at(definitions.versions(session, name), cursor, limit)
        current = definitions.active(session, name)
        items = [
            VersionSummary(version=r.version, created_at=as_utc(r.created_at),  # type: ignore[arg-type]
                           published_at=as_utc(r.published_at),
                           active=current is not None and current.id == r.id)
            for r in page.items
        ]
    return Page(items=items, next_cursor=page.next_cursor)


@router.get("/{name}/diff", response_model=DefinitionDiff, summary="What changed between two versions")
def diff_versions(
    name: str, engine: EngineDep,
    from_version: Annotated[Version, Query(alias="from")],
    to_version: Annotated[Version, Query(alias="to")],
) -> DefinitionDiff:
    with session_scope(engine) as session:
        old = definitions.get(session, name, from_version)
        new = definitions.get(session, name, to_version)
        found = definitions.diff(old.document, new.document,
                                 old_label=f"{name} v{from_version}", new_label=f"{name} v{to_version}")
    return DefinitionDiff(name=name, from_version=from_version, to_version=to_version,
                          unified=found["unified"], fields=found["fields"],
                          steps=StepChanges(**found["steps"]))


@router.get("/{name}", response_model=DefinitionPublic, summary="The active (or newest) version")
def get_definition(
    name: str, engine: EngineDep,
    version: Annotated[Version | None, Query()] = None,
) -> DefinitionPublic:
    """``?version=N`` for one version; without it the active version (the newest when none is
    published yet)."""
    with session_scope(engine) as session:
        return _public(session, definitions.get(session, name, version))
