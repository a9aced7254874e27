"""Full validation of a definition document of any kind: every problem, each with its JSON
Pointer path. ``validate`` is the one entry point; it checks the schema of the document's kind,
then a sequence here, a lead policy in ``followthrough.leads.validate``, an SLA policy in
``followthrough.tickets.validate``.

Errors make the definition unusable; warnings (an SMS longer than the segment limit) do not.
Schema errors come first. A schema error hides nothing else: when the document does not fit the
schema, every step that does is still checked on its own (ids, jumps, expressions, templates,
calendars), so one answer lists every problem; only the whole-graph checks (unreachable steps,
loops without a wait) wait for a document whose every step parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError

from followthrough.calendar import BUILTIN_CALENDARS
from followthrough.clock import Relative
from followthrough.dsl.checks import References
from followthrough.dsl.expressions import validate_expression
from followthrough.dsl.graph import successors, unreachable, waitless_cycles
from followthrough.dsl.kinds import Parsed
from followthrough.dsl.loader import schema_errors
from followthrough.dsl.schema import (
    AnyStep,
    Definition,
    GotoStep,
    IfStep,
    SendStep,
    SetStep,
    SplitStep,
    Step,
    TaskStep,
    WaitForStep,
    WaitStep,
)
from followthrough.errors import ErrorList, FieldError
from followthrough.leads import validate as lead_policy
from followthrough.leads.policy import LeadPolicyDefinition
from followthrough.tickets import validate as sla_policy
from followthrough.tickets.policy import SlaPolicyDefinition

#: (channel, template name, locale) -> does a template exist (with locale fallback applied)?
TemplateLookup = Callable[[str, str, str], bool]
#: (template name, locale) -> SMS segments when rendered with sample data (None: cannot tell).
SmsSegments = Callable[[str, str], int | None]
DEFAULT_SMS_SEGMENT_LIMIT = 3


def validate(
    document: Any,
    template_exists: TemplateLookup,
    *,
    sms_segments: SmsSegments | None = None,
    sms_segment_limit: int = DEFAULT_SMS_SEGMENT_LIMIT,
    calendar_exists: Callable[[str], bool] | None = None,
    references: References | None = None,
) -> tuple[Parsed | None, list[FieldError], list[FieldError]]:
    """(definition or None, errors, warnings). ``calendar_exists`` defaults to the built-in
    calendars; ``references`` (teams, definitions, users) to none known: those checks are
    skipped."""
    parsed, problems = schema_errors(document)
    has_calendar = calendar_exists or (lambda name: name in BUILTIN_CALENDARS)
    refs = references or References()
    kind = document.get("kind", "sequence") if isinstance(document, dict) else "sequence"
    if kind == "lead_policy":
        lead = parsed if isinstance(parsed, LeadPolicyDefinition) else None
        found, warned = lead_policy.validate(document, lead, calendar_exists=has_calendar, references=refs)
    elif kind == "sla_policy":
        sla = parsed if isinstance(parsed, SlaPolicyDefinition) else None
        found, warned = sla_policy.validate(document, sla, calendar_exists=has_calendar, references=refs)
    elif kind == "sequence":
        sequence = parsed if isinstance(parsed, Definition) else None
        return _sequence(document, sequence, problems, template_exists, sms_segments=sms_segments,
                         sms_segment_limit=sms_segment_limit, has_calendar=has_calendar)
    else:  # an unknown kind: its one problem says so
        return None, problems, []
    errors = _once([*problems, *found])
    return (None, errors, warned) if errors else (parsed, [], warned)


def _sequence(
    document: Any, definition: Definition | None, problems: list[FieldError], template_exists: TemplateLookup,
    *, sms_segments: SmsSegments | None, sms_segment_limit: int, has_calendar: Callable[[str], bool],
) -> tuple[Definition | None, list[FieldError], list[FieldError]]:
    errors, warnings = ErrorList(list(problems)), ErrorList()
    if definition is None:
        steps, locales = _parsed_steps(document), _locales(document)
        known = _step_ids(document)
    else:
        steps = list(enumerate(definition.steps))
        locales, known = definition.locales, set(definition.index_of())
    _ids(steps, errors)
    _references(steps, known, errors)
    _task_names(steps, document, errors)
    if definition is not None:
        _graph(definition, errors)
        if definition.goal is not None:
            _expression("/goal", definition.goal, errors)
    for index, step in steps:
        at = f"/steps/{index}"
        if isinstance(step, SendStep):
            _templates(locales, step, at, template_exists, errors)
            if step.urgent and step.channel != "internal":
                errors.add(f"{at}/urgent", "urgent is for internal sends (to a user's working time)")
            _sms_length(locales, step, at, sms_segments, sms_segment_limit, warnings)
        elif isinstance(step, IfStep):
            _expression(f"{at}/condition", step.condition, errors)
        elif isinstance(step, TaskStep):
            if step.due.expression is not None:
                _expression(f"{at}/due/expression", step.due.expression, errors)
            if isinstance(step.timeout, Relative):
                _timeout(step.timeout, f"{at}/timeout", has_calendar, errors)
        elif isinstance(step, SetStep) and step.expression is not None:
            _expression(f"{at}/expression", step.expression, errors)
        elif isinstance(step, SplitStep):
            total = sum(v.percent for v in step.variants)
            if total != 100:
                errors.add(f"{at}/variants", f"the variants' percents add up to {total}, not 100")
        elif isinstance(step, WaitStep) and step.business is not None:
            if not has_calendar(step.business.calendar):
                errors.add(f"{at}/business/calendar", f"no calendar named '{step.business.calendar}'")
        elif isinstance(step, WaitForStep) and isinstance(step.timeout, Relative):
            _timeout(step.timeout, f"{at}/timeout", has_calendar, errors)
    if definition is None and isinstance(document, dict) and isinstance(document.get("goal"), str):
        _expression("/goal", document["goal"], errors)
    if errors:
        return None, _once(errors.items), warnings.items
    return definition, [], warnings.items


_STEP: TypeAdapter[AnyStep] = TypeAdapter(Step)


def _raw_steps(document: Any) -> list[Any]:
    steps = document.get("steps") if isinstance(document, dict) else None
    return steps if isinstance(steps, list) else []


def _parsed_steps(document: Any) -> list[tuple[int, AnyStep]]:
    """The steps of a document that does not fit the schema which, on their own, do."""
    parsed = []
    for index, raw in enumerate(_raw_steps(document)):
        try:
            parsed.append((index, _STEP.validate_python(raw)))
        except ValidationError:
            continue  # its problems are among the schema errors already
    return parsed


def _step_ids(document: Any) -> set[str]:
    """Every id a step claims, parsed or not: a jump to a step that failed the schema is not
    also reported as a jump to nowhere."""
    return {raw["id"] for raw in _raw_steps(document)
            if isinstance(raw, dict) and isinstance(raw.get("id"), str)}


def _locales(document: Any) -> list[str]:
    """The declared locales when they fit the schema (else no per-locale template check)."""
    locales = document.get("locales", ["en"]) if isinstance(document, dict) else []
    if isinstance(locales, list) and all(isinstance(x, str) for x in locales):
        return locales
    return []


def _once(items: list[FieldError]) -> list[FieldError]:
    """Each problem once, in the order found."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for error in items:
        if (error.path, error.message) not in seen:
            seen.add((error.path, error.message))
            unique.append(error)
    return unique


def _ids(steps: list[tuple[int, AnyStep]], errors: ErrorList) -> None:
    seen: dict[str, int] = {}
    for index, step in steps:
        if step.id in seen:
            errors.add(f"/steps/{index}/id", f"step id '{step.id}' is used twice (first at /steps/{seen[step.id]})")
        seen.setdefault(step.id, index)


def _references(steps: list[tuple[int, AnyStep]], known: set[str], errors: ErrorList) -> None:
    for index, step in steps:
        refs: list[tuple[str, str | None]] = []
        if isinstance(step, IfStep):
            refs = [("then", step.then), ("else", step.else_)]
        elif isinstance(step, GotoStep):
            refs = [("goto", step.goto)]
        elif isinstance(step, SplitStep):
            refs = [(f"variants/{n}/goto", v.goto) for n, v in enumerate(step.variants)]
        for field, target in refs:
            if target is not None and target not in known:
                errors.add(f"/steps/{index}/{field}", f"no step with id '{target}'")


def _task_names(steps: list[tuple[int, AnyStep]], document: Any, errors: ErrorList) -> None:
    """A task step's ``as`` is its own: conditions would read another step's event (or an event
    of that name) under ``events.<as>`` otherwise."""
    stop_on = document.get("stop_on") if isinstance(document, dict) else None
    events = {str(e) for e in stop_on} if isinstance(stop_on, list) else set()
    events |= {step.event for _, step in steps if isinstance(step, WaitForStep)}
    owners: dict[str, list[int]] = {}
    for index, step in steps:
        if isinstance(step, WaitForStep | TaskStep) and step.as_ is not None:
            owners.setdefault(step.as_, []).append(index)
        elif isinstance(step, WaitForStep):
            owners.setdefault(step.event, []).append(index)
    for index, step in steps:
        if not isinstance(step, TaskStep) or step.as_ is None:
            continue
        others = [n for n in owners[step.as_] if n != index]
        if others:
            errors.add(f"/steps/{index}/as", f"'{step.as_}' is also where /steps/{others[0]} keeps its event")
        elif step.as_ in events:
            errors.add(f"/steps/{index}/as", f"'{step.as_}' is also the name of an event (events.{step.as_})")


def _graph(definition: Definition, errors: ErrorList) -> None:
    edges = successors(definition)
    for index in unreachable(edges):
        errors.add(f"/steps/{index}", f"step '{definition.steps[index].id}' can never be reached")
    # A wait until a date attribute may not wait at all (the date has passed), so it cannot
    # break a loop; every other wait always moves the clock forward.
    waits = [(isinstance(s, WaitStep) and s.until_date is None) or s.type == "wait_for"
             or (isinstance(s, TaskStep) and s.wait) for s in definition.steps]
    for cycle in waitless_cycles(edges, waits):
        names = " -> ".join(definition.steps[i].id for i in [*cycle, cycle[0]])
        errors.add(f"/steps/{cycle[0]}", f"these steps can loop without any wait: {names}")


def _timeout(timeout: Relative, at: str, has_calendar: Callable[[str], bool], errors: ErrorList) -> None:
    if timeout.zone == "owner":
        errors.add(f"{at}/zone", "a sequence knows the contact's zone, not an owner's: use contact "
                                 "or an IANA name such as Europe/Budapest")
    name = timeout.calendar or "default"
    if timeout.business and not has_calendar(name):
        errors.add(f"{at}/calendar", f"no calendar named '{name}'")


def _expression(path: str, text: str, errors: ErrorList) -> None:
    for problem in validate_expression(text):
        errors.add(path, f"expression '{text}': {problem}")


def _templates(locales: list[str], step: SendStep, at: str, template_exists: TemplateLookup,
               errors: ErrorList) -> None:
    # An internal notification is delivered as an email, so it needs an email template.
    channel = "email" if step.channel == "internal" else step.channel
    checks = [(f"{at}/template", channel)] + [(f"{at}/fallback/{n}", str(c)) for n, c in enumerate(step.fallback)]
    for path, kind in checks:
        for locale in locales:
            if not template_exists(kind, step.template, locale):
                errors.add(path, f"no {kind} template '{step.template}' for locale '{locale}'")


def _sms_length(locales: list[str], step: SendStep, at: str, sms_segments: SmsSegments | None,
                limit: int, warnings: ErrorList) -> None:
    if sms_segments is None:
        return
    paths = [f"{at}/template"] if step.channel == "sms" else []
    paths += [f"{at}/fallback/{n}" for n, c in enumerate(step.fallback) if c == "sms"]
    if not paths:
        return
    for locale in locales:
        segments = sms_segments(step.template, locale)
        if segments is not None and segments > limit:
            warnings.add(paths[0], f"SMS '{step.template}' ({locale}) is {segments} segments, "
                                   f"over the limit of {limit}")
