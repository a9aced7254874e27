"""Contact field validators, as tables of inputs and the exact normalized value or error."""

from __future__ import annotations

import pytest

from followthrough import contact_fields


class TestValidateEmail:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("anna@example.test", "anna@example.test"),
            ("Anna.Kovacs@Example.TEST", "Anna.Kovacs@example.test"),
            ("ivan+crm@example.com", "ivan+crm@example.com"),
            ("иван@пример.рф", "иван@пример.рф"),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert contact_fields.validate_email(value) == expected

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("anna", "An email address must have an @-sign."),
            ("", "An email address must have an @-sign."),
            ("anna@", "There must be something after the @-sign."),
            ("@example.test", "There must be something before the @-sign."),
            ("anna@@example.test", "The part after the @-sign contains invalid characters: '@'."),
            ("anna@example", "The part after the @-sign is not valid. It should have a period."),
            ("anna@example..test", "An email address cannot have two periods in a row."),
        ],
    )
    def test_invalid(self, value: str, reason: str) -> None:
        with pytest.raises(ValueError) as info:
            contact_fields.validate_email(value)
        assert str(info.value) == f"not a valid email address: {reason}"


NOT_INTERNATIONAL = (
    "a phone number must be in international format, starting with '+' and the country code "
    "(E.164), e.g. +15555550123"
)


class TestValidatePhone:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("+15555550123", "+15555550123"),
            ("+7 912 345-67-89", "+79123456789"),
            ("+36 1 234 5678", "+3612345678"),
            ("  +36 30 123 4567 ", "+36301234567"),
            ("+44 (20) 7946 0018", "+442079460018"),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert contact_fields.validate_phone(value) == expected

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("12345", NOT_INTERNATIONAL),
            ("8 912 345-67-89", NOT_INTERNATIONAL),
            ("", NOT_INTERNATIONAL),
            ("+1 555", "'+1 555' has too few digits for its country code"),
            ("+1 555 555 01234", "'+1 555 555 01234' has too many digits for its country code"),
            (
                "+999 123 456",
                "not a valid phone number: Could not interpret numbers after plus-sign.",
            ),
            (
                "+",
                "not a valid phone number: The string supplied did not seem to be a phone number.",
            ),
        ],
    )
    def test_invalid(self, value: str, message: str) -> None:
        with pytest.raises(ValueError) as info:
            contact_fields.validate_phone(value)
        assert str(info.value) == message


class TestValidateTimeZone:
    @pytest.mark.parametrize(
        "value", ["Europe/Budapest", "Europe/Moscow", "America/New_York", "UTC"]
    )
    def test_valid(self, value: str) -> None:
        assert contact_fields.validate_time_zone(value) == value

    @pytest.mark.parametrize("value", ["Mars/Base", "", "../etc/passwd", "/etc/localtime", "CEST"])
    def test_invalid(self, value: str) -> None:
        with pytest.raises(ValueError) as info:
            contact_fields.validate_time_zone(value)
        assert str(info.value) == f"'{value}' is not an IANA time zone name, e.g. Europe/Budapest"


class TestValidateLocale:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("ru-RU", "ru-RU"),
            ("hu", "hu"),
            ("en", "en"),
            ("ru_ru", "ru-RU"),
            ("EN-us", "en-US"),
            ("zh-hant-tw", "zh-Hant-TW"),
            ("hu-HU", "hu-HU"),
        ],
    )
    def test_valid(self, value: str, expected: str) -> None:
        assert contact_fields.validate_locale(value) == expected

    @pytest.mark.parametrize("value", ["xx", "klingon", "", "ru-XX", "en US"])
    def test_invalid(self, value: str) -> None:
        with pytest.raises(ValueError) as info:
            contact_fields.validate_locale(value)
        assert str(info.value) == f"'{value}' is not a known BCP 47 locale, e.g. en, ru-RU or hu"
