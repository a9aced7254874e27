"""Validators for contact fields: email, phone, time zone, locale. Pure; each returns the
normalized value or raises ``ValueError`` with a message a person can act on."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError
from email_validator import validate_email as _validate_email

from followthrough.rendering import normalize_locale

_REASON = phonenumbers.ValidationResult
_LENGTH_PROBLEMS = {
    _REASON.TOO_SHORT: "has too few digits for its country code",
    _REASON.TOO_LONG: "has too many digits for its country code",
    _REASON.INVALID_COUNTRY_CODE: "has an unknown country code",
}


def validate_email(value: str) -> str:
    """The address normalized (domain lower-cased); syntax only, no DNS lookup.

    ``test_environment`` admits the reserved ``.test`` domain (RFC 2606) used in tests and demos.
    """
    try:
        result = _validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return result.normalized


def validate_phone(value: str) -> str:
    """The number in E.164 (``+7 912 345-67-89`` -> ``+79123456789``).

    Numbers must carry their country code: a contact has no reliable region to guess one from.
    """
    text = value.strip()
    if not text.startswith("+"):
        raise ValueError(
            "a phone number must be in international format, starting with '+' "
            "and the country code (E.164), e.g. +15555550123"
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        # str(exc) starts with the numeric error type, "(1) ...": keep only the sentence.
        raise ValueError(f"not a valid phone number: {str(exc).split(') ', 1)[-1]}") from None
    # "Possible" checks length for the country; "valid" would reject the 555 test ranges.
    if not phonenumbers.is_possible_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        problem = _LENGTH_PROBLEMS.get(
            reason, "has the wrong number of digits for its country code"
        )
        raise ValueError(f"'{value}' {problem}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_time_zone(value: str) -> str:
    """An IANA time zone name such as ``Europe/Budapest`` (abbreviations like CET are ambiguous)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: keys that are not zone names at all (empty, absolute paths, "..").
        raise ValueError(f"'{value}' is not an IANA time zone name, e.g. Europe/Budapest") from None
    return value


def validate_locale(value: str) -> str:
    """A BCP 47 tag that babel knows, in canonical casing with hyphens (``ru_ru`` -> ``ru-RU``)."""
    tag = normalize_locale(value)
    try:
        Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"'{value}' is not a known BCP 47 locale, e.g. en, ru-RU or hu") from None
    return tag


def serialized_size(value: Any) -> int:
    """Bytes of a free-form object (contact attributes, enrollment or event data) as compact
    JSON, the measure of ``FT_MAX_OBJECT_BYTES``."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
