"""A rep's SMS answer to a task reminder: ``1`` (done), ``2`` (snooze one hour), or a word in
English, Russian or Hungarian. Pure: no I/O, no clock.

Like keywords, the reply is the *whole* message, compared after trimming, case- and
accent-folding (``KESZ`` is ``kész``): "done with Anna, call back Monday" is not an
instruction, and gets the help answer instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from followthrough.keywords import normalise


class RepCommand(StrEnum):
    DONE = "done"
    SNOOZE = "snooze"


#: The README lists these ("Acting on reminders"); a test keeps the two equal.
WORDS: dict[RepCommand, dict[str, tuple[str, ...]]] = {
    RepCommand.DONE: {
        "en": ("1", "done", "ok"),
        "ru": ("готово", "сделано", "выполнено"),
        "hu": ("kész", "megvan", "elintézve"),
    },
    RepCommand.SNOOZE: {
        "en": ("2", "snooze", "later"),
        "ru": ("отложить", "позже"),
        "hu": ("később", "halaszt"),
    },
}

_COMMANDS: dict[str, RepCommand] = {
    normalise(word): command
    for command, by_language in WORDS.items() for words in by_language.values() for word in words
}


def parse_rep_reply(body: str) -> RepCommand | None:
    """The command the whole message is, or None."""
    return _COMMANDS.get(normalise(body))


class RepReplyKind(StrEnum):
    ACT = "act"  # carry the command out on the task
    HELP = "help"  # not a command: say which ones there are
    NO_TASK = "no_task"  # a command, but no reminder was sent to this rep


@dataclass(frozen=True)
class RepReplyRoute:
    kind: RepReplyKind
    command: RepCommand | None = None
    task_id: int | None = None


def route_rep_reply(body: str, last_task_id: int | None) -> RepReplyRoute:
    """Where a rep's SMS goes: to the task of the last reminder sent to them, never to a
    customer's runs."""
    command = parse_rep_reply(body)
    if command is None:
        return RepReplyRoute(RepReplyKind.HELP)
    if last_task_id is None:
        return RepReplyRoute(RepReplyKind.NO_TASK, command)
    return RepReplyRoute(RepReplyKind.ACT, command, last_task_id)
