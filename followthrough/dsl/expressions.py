"""Conditions and computed values, compiled by Jinja2's immutable sandbox — never ``eval``.

Names an expression may use (``NAMES``):

- ``contact``: ``id``, ``name``, ``email``, ``phone``, ``locale``, ``time_zone``, ``attributes``
  (``contact.attributes.plan``)
- ``data``: the enrollment data (``data.order_id``)
- ``lead``: ``score``: the score of the contact's open lead (``ContactSnapshot.lead_score``); for
  a contact without one, the contact attribute ``lead_score``; 0 when neither is set
- ``events``: per event name (or a ``wait_for``'s ``as``): ``received`` (bool) and ``data``,
  e.g. ``events.reply.received``; an event never seen reads as ``received: false``. Names with a
  dot are read with brackets: ``events["ticket.resolved"].received``.
- ``run``: ``visits`` (step id -> times entered), e.g. ``run.visits.reminder < 3``.

Undefined names and attributes are errors (like ``StrictUndefined``), and so is any attribute
starting with ``_``. At run time an error makes a condition false; the caller records the reason.
An expression that runs away (``'a' * 10**9``, a huge power, more than ``MAX_OPERATIONS``
operations) is such an error too: see ``followthrough.dsl.sandbox``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import TemplateError
from jinja2.parser import Parser
from jinja2.runtime import StrictUndefined, Undefined

from followthrough.dsl.sandbox import BoundedSandbox, budget, constant_problems

NAMES: tuple[str, ...] = ("contact", "data", "lead", "events", "run")

_ENV = BoundedSandbox(undefined=StrictUndefined)
# Expressions decide inside workflows, which must replay to the same decision: no chance.
del _ENV.filters["random"]


class ExpressionError(ValueError):
    """An expression that does not parse, or failed while evaluating."""


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Any:
    try:
        return _ENV.compile_expression(text, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not parse: {exc.message}") from None


def _tree(text: str) -> nodes.Expr:
    parser = Parser(_ENV, text, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        parser.fail("unexpected text after the expression")
    return expr


#: The names an expression may use -> the attributes each may have (None: any).
Names = Mapping[str, Collection[str] | None]


def validate_expression(text: str, names: Names | None = None) -> list[str]:
    """Every problem of one expression: syntax, unknown top-level names (``names``, default
    ``NAMES``) and attributes of a name that lists its own, private attributes."""
    try:
        _compiled(text)
        tree = _tree(text)
    except (ExpressionError, TemplateSyntaxError) as exc:
        message = exc.message if isinstance(exc, TemplateSyntaxError) else str(exc)
        return [message or "does not parse"]
    allowed: Names = names if names is not None else dict.fromkeys(NAMES)
    problems: list[str] = []
    every = [tree, *tree.find_all(nodes.Node)]  # find_all skips the root itself
    for name in dict.fromkeys(n.name for n in every if isinstance(n, nodes.Name)):
        if name not in allowed:
            problems.append(f"unknown name '{name}' (use one of: {', '.join(allowed)})")
    for node in every:
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            problems.append(f"attribute '{node.attr}' is not allowed (private)")
        elif (found := _member(node)) is not None and (known := allowed.get(found[0])) is not None \
                and found[1] not in known:
            problems.append(f"'{found[0]}' has no '{found[1]}' (use one of: {', '.join(known)})")
    problems += constant_problems(_ENV, tree)
    return problems


def _member(node: nodes.Node) -> tuple[str, str] | None:
    """(name, attribute) of ``name.attribute`` or ``name["attribute"]``, else None."""
    if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
        return node.node.name, node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name) \
            and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.node.name, node.arg.value
    return None


class _Events(dict):  # type: ignore[type-arg]
    """``events.<name>`` for a name never seen reads as not received."""

    def __missing__(self, key: str) -> dict[str, Any]:
        return {"received": False, "data": {}}


def scope(
    contact: Mapping[str, Any], data: Mapping[str, Any], events: Mapping[str, Any],
    visits: Mapping[str, int],
) -> dict[str, Any]:
    """The names an expression sees, built from plain data."""
    contact = dict(contact)
    attributes = contact.get("attributes") or {}
    score = contact.pop("lead_score", None)
    if score is None:
        score = attributes.get("lead_score")
    return {
        "contact": contact,
        "data": dict(data),
        "lead": {"score": score if score is not None else 0},
        "events": _Events(events),
        "run": {"visits": dict(visits)},
    }


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """The value of an expression; raises ExpressionError (never anything else) on failure."""
    try:
        with budget():
            value = _compiled(text)(**names)
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return value
    except ExpressionError:
        raise
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError, AttributeError,
            RecursionError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def holds(text: str, names: Mapping[str, Any]) -> tuple[bool, str | None]:
    """A condition's truth; an error counts as false, with the reason."""
    try:
        return bool(evaluate(text, names)), None
    except ExpressionError as exc:
        return False, f"condition error: {exc}"
    except TemplateError as exc:  # bool() of a strict undefined nested in a value
        return False, f"condition error: {exc}"
