"""Parse definition documents (YAML with a strict safe loader, or JSON) into validated models."""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from followthrough.clock import FORM_TAGS
from followthrough.dsl.kinds import ADAPTER, KINDS, Parsed, unknown_kind
from followthrough.dsl.schema import STEP_TYPES
from followthrough.errors import ErrorList, FieldError, ValidationFailed, json_pointer

#: The tags a definition may use, explicitly or implicitly: JSON's types, and dates (which the
#: safe loader resolves from plain ``2026-01-01`` scalars).
_ALLOWED_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in (
    "null", "bool", "int", "float", "str", "seq", "map", "timestamp"))


class StrictLoader(yaml.SafeLoader):
    """The safe loader without aliases and without tags beyond JSON's types and dates.

    Aliases make a "billion laughs": a 600-byte document whose nine levels of ``*alias`` each
    repeat the one before ten times stands for 10^9 strings, and any walk over it (validation,
    JSON) runs out of time and memory. Nothing in a definition needs them, nor ``!!python/...``,
    ``!!binary`` or ``!!set``, which are not JSON."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"aliases (*{event.anchor}) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node.tag not in _ALLOWED_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed",
                node.start_mark)
        return super().construct_object(node, deep=deep)


def parse_document(text: str, *, yaml_format: bool) -> Any:
    """Text to a plain document; a syntax error, an alias or a custom tag is a ValidationFailed
    (422) with its line."""
    try:
        return yaml.load(text, Loader=StrictLoader) if yaml_format else json.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationFailed(f"The YAML does not parse{where}: {getattr(exc, 'problem', exc)}") from exc
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"The JSON does not parse at line {exc.lineno}: {exc.msg}") from exc
    except RecursionError as exc:  # "[[[[..." a hundred thousand deep
        raise ValidationFailed("The document is nested too deeply.") from exc


def schema_errors(document: Any) -> tuple[Parsed | None, list[FieldError]]:
    """Validate a document against the schema of its kind; every error with its JSON Pointer
    path. A kind that is none of ``KINDS`` is the one error (the rest depends on the kind)."""
    if not isinstance(document, dict):
        return None, [FieldError("", "a definition is an object with name, kind and steps")]
    if (claimed := unknown_kind(document)) is not None:
        return None, [FieldError("/kind", f"unknown kind {claimed} (use one of: {', '.join(KINDS)})")]
    try:
        return ADAPTER.validate_python(document), []
    except ValidationError as exc:
        found = ErrorList()
        for error in exc.errors():
            found.add(_pointer(error["loc"]), error["msg"])
        return None, found.items


def _pointer(location: tuple[Any, ...]) -> str:
    """A pydantic error location as a JSON Pointer. Discriminated unions add the tag: the
    definition's kind first (``lead_policy/thresholds``), a step's type right after the list
    index (``steps/2/send/template``), the clock's forms after the field
    (``timeout/relative-time/after``); plain unions name the member that refused
    (``notify/0/literal['assignee','team_manager']``, ``notify/0/constrained-int``); validators add
    ``function-...``: drop them all. Only the first part can be a kind (``nurture/sequence`` is
    a field); a part followed by ``[key]`` is a document's key that failed its pattern (it may
    have a ``-`` or ``[``) and is kept."""
    member = ("function-", "tagged-union", "literal[", "constrained-")
    parts: list[str] = []
    previous: Any = None
    for index, part in enumerate(location):
        text = str(part)
        a_key = index + 1 < len(location) and location[index + 1] == "[key]"
        dropped = not a_key and (text.startswith(member) or text in FORM_TAGS or (
            isinstance(previous, int) and text in STEP_TYPES) or (index == 0 and text in KINDS))
        if not dropped:
            parts.append(text)
        previous = part
    return json_pointer(parts)


def load_definition_text(text: str, *, yaml_format: bool, source: str = "definition") -> Parsed:
    """Parse and schema-check a definition document; raises ValidationFailed with every error."""
    definition, problems = schema_errors(parse_document(text, yaml_format=yaml_format))
    if definition is None:
        raise ValidationFailed(f"{source}: invalid definition", errors=problems)
    return definition
