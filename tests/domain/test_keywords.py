"""SMS keywords: whole message only, three languages, case/accents/punctuation tolerant."""

from __future__ import annotations

import pytest

from followthrough.keywords import KeywordKind, normalise, parse_keyword

STOP, START, HELP = KeywordKind.STOP, KeywordKind.START, KeywordKind.HELP

KEYWORDS = [
    # (message, kind, language)
    ("STOP", STOP, "en"),
    ("stop", STOP, "en"),
    ("  Stop!  ", STOP, "en"),
    ("STOP.", STOP, "en"),
    ("stop 🙏", STOP, "en"),
    ("StopAll", STOP, "en"),
    ("UNSUBSCRIBE", STOP, "en"),
    ("cancel", STOP, "en"),
    ("End", STOP, "en"),
    ("quit\n", STOP, "en"),
    ("СТОП", STOP, "ru"),
    ("стоп", STOP, "ru"),
    ("Стоп!!!", STOP, "ru"),
    ("ОТПИСАТЬСЯ", STOP, "ru"),
    ("отписка", STOP, "ru"),
    ("LEIRATKOZÁS", STOP, "hu"),
    ("leiratkozas", STOP, "hu"),
    ("Leiratkozás.", STOP, "hu"),
    ("STOPP", STOP, "hu"),
    ("START", START, "en"),
    ("unstop", START, "en"),
    ("Старт", START, "ru"),
    ("ПОДПИСАТЬСЯ", START, "ru"),
    ("FELIRATKOZÁS", START, "hu"),
    ("feliratkozas", START, "hu"),
    ("Indít", START, "hu"),
    ("INDIT", START, "hu"),
    ("HELP", HELP, "en"),
    ("help?", HELP, "en"),
    ("INFO", HELP, "en"),
    ("Помощь", HELP, "ru"),
    ("SÚGÓ", HELP, "hu"),
    ("sugo", HELP, "hu"),
    ("Segítség!", HELP, "hu"),
    ("ｓｔｏｐ", STOP, "en"),  # full-width letters (NFKC)
]

NOT_KEYWORDS = [
    "please stop calling me at 9",
    "stop it",
    "Don't stop",
    "STOP STOP",
    "yes",  # an answer to a question, not a re-subscription
    "YES",
    "да",
    "igen",
    "stopping",
    "стоп-кран",
    "help me with my order",
    "",
    "   ",
    "!!!",
    "s t o p",
]


class TestParseKeyword:
    @pytest.mark.parametrize(("message", "kind", "language"), KEYWORDS)
    def test_keyword(self, message: str, kind: KeywordKind, language: str) -> None:
        keyword = parse_keyword(message)
        assert keyword is not None
        assert (keyword.kind, keyword.language) == (kind, language)

    @pytest.mark.parametrize("message", NOT_KEYWORDS)
    def test_not_a_keyword(self, message: str) -> None:
        assert parse_keyword(message) is None


class TestNormalise:
    @pytest.mark.parametrize(("message", "expected"), [
        ("  STOP!  ", "stop"),
        ("Leiratkozás.", "leiratkozas"),
        ("«Стоп»", "стоп"),
        ("stop   all", "stop all"),
        ("\tHelp?\r\n", "help"),
    ])
    def test_normalise(self, message: str, expected: str) -> None:
        assert normalise(message) == expected
