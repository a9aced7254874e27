"""The checks that every kind of definition shares, each adding problems with their JSON
Pointer paths: expressions over the names a kind allows, and references to what the store holds
(teams with members, definitions of a kind, users, calendars).

The store is asked through ``References``, filled by the caller (the API from the database, the
CLI offline with nothing): a look-up that is None cannot tell, and its check is skipped. The raw
walk (``found``) reads a document that did not fit the schema too, so a schema error hides no
other problem."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from followthrough.clock import Threshold
from followthrough.dsl.durations import parse_signed_duration
from followthrough.dsl.expressions import Names, validate_expression
from followthrough.errors import ErrorList, json_pointer

#: The longest SLA budget a policy may set: a clock plans every tier from it, and a budget of
#: centuries overflows the calendar. A tier (up to ten budgets) is reached within ten of them.
MAX_SLA = timedelta(days=366)
MAX_TIER = MAX_SLA * 10


@dataclass(frozen=True)
class References:
    """What the store holds, for the checks of references; None: cannot tell (not checked)."""

    #: team name -> how many members it has
    teams: Mapping[str, int] | None = None
    #: definition name -> the kind of its newest version
    definitions: Mapping[str, str] | None = None
    users: Collection[int] | None = None


def found(document: Any, *pattern: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every value at ``pattern`` in a plain document: ``*`` is each item of a
    list or each value of an object. What is missing or of another shape is skipped."""
    if not pattern:
        yield "", document
        return
    head, rest = pattern[0], pattern[1:]
    items: Iterable[tuple[Any, Any]]
    if head == "*":
        items = (enumerate(document) if isinstance(document, list)
                 else document.items() if isinstance(document, dict) else ())
    else:
        items = [(head, document[head])] if isinstance(document, dict) and head in document else []
    for key, value in items:
        for path, leaf in found(value, *rest):
            yield f"{json_pointer([key])}{path}", leaf


@dataclass(frozen=True)
class Places:
    """Where a kind's documents keep what the raw checks read: ``found`` patterns."""

    #: The names its expressions may use.
    names: Names
    expressions: Sequence[tuple[str, ...]] = ()
    teams: Sequence[tuple[str, ...]] = ()
    calendars: Sequence[tuple[str, ...]] = ()
    users: Sequence[tuple[str, ...]] = ()


def raw(document: Any, where: Places, calendar_exists: Callable[[str], bool], refs: References,
        errors: ErrorList) -> None:
    """The checks that read the raw document (so a schema error hides none of them):
    expressions, teams, calendars and users at ``where``."""
    expressions(document, where.expressions, where.names, errors)
    teams(document, where.teams, refs, errors)
    calendars(document, where.calendars, calendar_exists, errors)
    for pattern in where.users:
        users(document, pattern, refs, errors)


def expressions(document: Any, patterns: Sequence[tuple[str, ...]], names: Names, errors: ErrorList) -> None:
    """Every expression at ``patterns`` parses and uses only ``names``."""
    for pattern in patterns:
        for path, text in found(document, *pattern):
            if isinstance(text, str):
                for problem in validate_expression(text, names):
                    errors.add(path, f"expression '{text}': {problem}")


def teams(document: Any, patterns: Sequence[tuple[str, ...]], refs: References, errors: ErrorList) -> None:
    """Every team named exists and has at least one member (work given to an empty team waits
    for nobody)."""
    if refs.teams is None:
        return
    for pattern in patterns:
        for path, name in found(document, *pattern):
            if not isinstance(name, str):
                continue
            members = refs.teams.get(name)
            if members is None:
                errors.add(path, f"no team named '{name}' (PUT /v1/teams/{name})")
            elif members == 0:
                errors.add(path, f"team '{name}' has no members")


def calendars(document: Any, patterns: Sequence[tuple[str, ...]], calendar_exists: Callable[[str], bool],
              errors: ErrorList) -> None:
    for pattern in patterns:
        for path, name in found(document, *pattern):
            if isinstance(name, str) and not calendar_exists(name):
                errors.add(path, f"no calendar named '{name}' (GET /v1/calendars)")


def definition_of_kind(path: str, name: str, kind: str, refs: References, errors: ErrorList) -> None:
    """``name`` is a stored definition of ``kind``."""
    if refs.definitions is None:
        return
    stored = refs.definitions.get(name)
    if stored is None:
        errors.add(path, f"no {kind} named '{name}'")
    elif stored != kind:
        errors.add(path, f"'{name}' is a {stored}, not a {kind}")


def users(document: Any, pattern: tuple[str, ...], refs: References, errors: ErrorList) -> None:
    """Every user id (an integer) at ``pattern`` exists."""
    if refs.users is None:
        return
    for path, user_id in found(document, *pattern):
        if isinstance(user_id, int) and not isinstance(user_id, bool) and user_id not in refs.users:
            errors.add(path, f"user {user_id} does not exist")


def span(path: str, budget: str, errors: ErrorList) -> None:
    """An SLA budget (an ISO-8601 duration the schema accepted) is at most ``MAX_SLA``."""
    try:
        length = parse_signed_duration(budget)
    except ValueError:
        return  # the schema said so already
    if length > MAX_SLA:
        errors.add(path, f"'{budget}' is longer than an SLA may be ({MAX_SLA.days} days)")


def ladder(path: str, tiers: list[tuple[int, Threshold, str | None]], budget: str, errors: ErrorList) -> None:
    """A ladder climbs: each tier (its index at ``path``, threshold, action) is reached later
    than the one before on a clock of ``budget``, and an action (``reassign``) is taken once."""
    try:
        length = parse_signed_duration(budget)
    except ValueError:
        return  # the schema said so already
    previous: tuple[int, timedelta] | None = None
    taken: dict[str, int] = {}
    for index, at, action in tiers:
        try:
            reached: timedelta | None = at.elapsed(length)
        except OverflowError:
            reached = None
        if reached is None or reached > MAX_TIER:
            errors.add(f"{path}/{index}/at", f"tier {index} is reached after more than {MAX_TIER.days} days "
                                            "of business time: no clock counts that far")
            continue
        if previous is not None and reached <= previous[1]:
            errors.add(f"{path}/{index}/at", f"tier {index} is reached after {_spoken(reached)} of business "
                                            f"time, not later than tier {previous[0]} ({_spoken(previous[1])}): "
                                            "a ladder's tiers climb")
        previous = (index, reached)
        if action is not None:
            if action in taken:
                errors.add(f"{path}/{index}/action", f"'{action}' is already tier {taken[action]}'s action: "
                                                    "a ladder takes it once")
            taken.setdefault(action, index)


def _spoken(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"
