"""SMS keywords (STOP, START, HELP) in English, Russian and Hungarian. Pure: no I/O, no clock.

A keyword is the *whole* message, compared case-insensitively after trimming whitespace and
punctuation (``" Stop! "``, ``"стоп."``) and ignoring accents (``LEIRATKOZAS`` is
``LEIRATKOZÁS``: phones without a Hungarian keyboard drop them). A keyword inside a sentence —
``"please stop calling me at 9"`` — is a conversational reply, not an opt-out: it goes to the
runs as a reply and a person reads it. This is how carriers and Twilio match their own opt-out
keywords (the trimmed body equals the keyword), so our consent never disagrees with the
carrier's block list on what counts as STOP.

``YES`` is deliberately *not* a START keyword, although Twilio's defaults include it: in a CRM,
"yes" is the likeliest answer to a sales question, and re-subscribing someone by accident is
worse than asking them to send START.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum


class KeywordKind(StrEnum):
    """What a keyword asks for; also the ``RunEvent.kind`` signalled to the runs."""

    STOP = "stop"
    START = "start"
    HELP = "help"


@dataclass(frozen=True)
class Keyword:
    kind: KeywordKind
    word: str  # the matched keyword, normalised (casefolded, accents removed)
    language: str  # the language the word belongs to; "en" for the international ones


def _fold(text: str) -> str:
    """Casefold and drop combining marks (á -> a). None of the Russian keywords contains й or ё,
    whose decomposition would otherwise change the letter."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_WORDS: dict[KeywordKind, dict[str, tuple[str, ...]]] = {
    KeywordKind.STOP: {
        # CTIA / Twilio's standard opt-out words.
        "en": ("stop", "stopall", "unsubscribe", "cancel", "end", "quit"),
        "ru": ("стоп", "отписаться", "отписка"),
        "hu": ("leiratkozás", "stopp"),
    },
    KeywordKind.START: {
        "en": ("start", "unstop"),
        "ru": ("старт", "подписаться"),
        "hu": ("feliratkozás", "indít"),
    },
    KeywordKind.HELP: {
        "en": ("help", "info"),
        "ru": ("помощь",),
        "hu": ("súgó", "segítség"),
    },
}

#: Folded word -> Keyword. Built once; folding also gives the accent-less spellings.
KEYWORDS: dict[str, Keyword] = {
    _fold(word): Keyword(kind, _fold(word), language)
    for kind, by_language in _WORDS.items()
    for language, words in by_language.items()
    for word in words
}


def _is_noise(ch: str) -> bool:
    """Whitespace, punctuation, symbols (emoji) and control characters around a keyword."""
    return unicodedata.category(ch)[0] in "PZSC"


def normalise(body: str) -> str:
    """The message as keywords are compared: NFKC, folded, trimmed of noise at both ends, inner
    whitespace collapsed."""
    text = _fold(unicodedata.normalize("NFKC", body))
    start, end = 0, len(text)
    while start < end and _is_noise(text[start]):
        start += 1
    while end > start and _is_noise(text[end - 1]):
        end -= 1
    return " ".join(text[start:end].split())


def parse_keyword(body: str) -> Keyword | None:
    """The keyword the whole message is, or ``None`` for an ordinary reply."""
    return KEYWORDS.get(normalise(body))
