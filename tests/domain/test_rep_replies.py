"""A rep's SMS answer to a reminder: the words, and where it goes. Pure."""

from __future__ import annotations

import re

import pytest

from followthrough.rep_replies import (
    WORDS,
    RepCommand,
    RepReplyKind,
    RepReplyRoute,
    parse_rep_reply,
    route_rep_reply,
)
from followthrough.settings import PROJECT_ROOT


class TestParse:
    @pytest.mark.parametrize(("body", "command"), [
        ("1", RepCommand.DONE), (" 1. ", RepCommand.DONE), ("Done!", RepCommand.DONE),
        ("OK", RepCommand.DONE), ("Готово", RepCommand.DONE), ("сделано.", RepCommand.DONE),
        ("kész", RepCommand.DONE), ("KESZ", RepCommand.DONE), ("Elintézve", RepCommand.DONE),
        ("2", RepCommand.SNOOZE), ("later", RepCommand.SNOOZE), ("Отложить", RepCommand.SNOOZE),
        ("позже!", RepCommand.SNOOZE), ("Később", RepCommand.SNOOZE), ("kesobb", RepCommand.SNOOZE),
    ])
    def test_commands(self, body: str, command: RepCommand) -> None:
        assert parse_rep_reply(body) is command

    @pytest.mark.parametrize("body", ["", "3", "12", "done with Anna, call back Monday", "готово?? нет",
                                      "stop", "спасибо"])
    def test_anything_else_is_no_command(self, body: str) -> None:
        assert parse_rep_reply(body) is None


class TestRoute:
    def test_a_command_goes_to_the_last_reminders_task(self) -> None:
        assert route_rep_reply("2", 42) == RepReplyRoute(RepReplyKind.ACT, RepCommand.SNOOZE, 42)

    def test_a_command_without_a_reminder_says_so(self) -> None:
        assert route_rep_reply("готово", None) == RepReplyRoute(RepReplyKind.NO_TASK, RepCommand.DONE)

    def test_other_text_gets_help_and_touches_no_task(self) -> None:
        assert route_rep_reply("who is this?", 42) == RepReplyRoute(RepReplyKind.HELP)


def test_the_readme_lists_every_word() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Acting on reminders", 1)[1].split("\n## ", 1)[0]
    for command, by_language in WORDS.items():
        row = re.search(rf"^\| `{command.value}` \|(.*)$", section, re.MULTILINE)
        assert row is not None, command
        for words in by_language.values():
            for word in words:
                assert f"`{word}`" in row.group(1), (command, word)
