from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter
from sqlalchemy import Engine

from api.deps import EngineDep, ManagerDep
from api.schemas.common import Page
from api.schemas.definitions import DefinitionPublic
from followthrough.dsl.loader import parse_document
from followthrough.dsl.schema import Definition
from followthrough.dsl.validate import validate
from followthrough.errors import FollowthroughError, ValidationFailed
from followthrough.store import definitions, templates
from followthrough.store.db import session_scope

router = APIRouter(prefix="/v1/definitions", tags=["definitions"])

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class UnsupportedMediaType(FollowthroughError):
    status_code = 415
    code = "unsupported_media_type"


@router.get("/schema", summary="The JSON Schema of definition documents")
def definition_schema() -> dict[str, Any]:
    return TypeAdapter(Definition).json_schema()


@router.post(
    "",
    response_model=DefinitionPublic,
    status_code=201,
    summary="Save a definition (JSON, or YAML with Content-Type: application/yaml)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": {"schema": {"type": "string"}},
    }}},
)
async def save_definition(request: Request, engine: EngineDep, _principal: ManagerDep) -> JSONResponse:
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
    row, created, warnings = _save(engine, document)
    body = DefinitionPublic.of(row, created=created).model_dump(mode="json")
    body["warnings"] = [{"path": w.path, "message": w.message} for w in warnings]
    return JSONResponse(body, status_code=201 if created else 200)


def _save(engine: Engine, document: Any):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        def template_exists(channel: str, name: str, locale: str) -> bool:
            candidates = dict.fromkeys([locale, locale.split("-")[0]])
            return any(templates.get_row(session, channel, name, c) is not None for c in candidates)

        definition, problems, warnings = validate(document, template_exists)
        if definition is None:
            raise ValidationFailed(
                f"The definition has {len(problems)} problem(s); nothing was saved.", errors=problems
            )
        # In this release a save is at once the active version (explicit publish comes later).
        row, created = definitions.save(
            session, definition.name, definition.kind, definition.model_dump(mode="json"), publish=True
        )
        return row, created, warnings


@router.get("", response_model=Page[DefinitionPublic], summary="Every definition, newest version")
def list_definitions(engine: EngineDep, _principal: ManagerDep) -> Page[DefinitionPublic]:
    with session_scope(engine) as session:
        rows = definitions.list_latest(session)
    return Page(items=[DefinitionPublic.of(row, versions=n) for row, n in rows], next_cursor=None)


@router.get("/{name}", response_model=DefinitionPublic, summary="The active (or newest) version")
def get_definition(
    name: str, engine: EngineDep, _principal: ManagerDep, version: int | None = None
) -> DefinitionPublic:
    with session_scope(engine) as session:
        row = definitions.get(session, name, version)
        latest = definitions.latest_version(session, name)
    return DefinitionPublic.of(row, versions=latest.version if latest else None)
