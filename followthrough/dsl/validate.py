"""Full validation of a definition document: every problem, each with its JSON Pointer path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from followthrough.dsl.loader import schema_errors
from followthrough.dsl.schema import Definition, SendStep
from followthrough.errors import ErrorList, FieldError

#: (channel, template name, locale) -> does a template exist (with locale fallback applied)?
TemplateLookup = Callable[[str, str, str], bool]


def validate(document: Any, template_exists: TemplateLookup) -> tuple[Definition | None, list[FieldError]]:
    definition, problems = schema_errors(document)
    if definition is None:
        return None, problems
    found = ErrorList()
    seen: dict[str, int] = {}
    for index, step in enumerate(definition.steps):
        if step.id in seen:
            found.add(f"/steps/{index}/id", f"step id '{step.id}' is used twice (first at /steps/{seen[step.id]})")
        seen.setdefault(step.id, index)
        if isinstance(step, SendStep):
            for locale in definition.locales:
                if not template_exists(step.channel, step.template, locale):
                    found.add(
                        f"/steps/{index}/template",
                        f"no {step.channel} template '{step.template}' for locale '{locale}'",
                    )
    return (None, found.items) if found else (definition, [])
