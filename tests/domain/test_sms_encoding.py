"""SMS limits: encoding choice, wire length and segment counts (GSM 03.38, 3GPP TS 23.038)."""

from __future__ import annotations

import pytest

from followthrough.sms_encoding import GSM7_BASIC, GSM7_EXTENSION, LIMITS, SmsInfo, sms_info

CYRILLIC = "Ж"
HUNGARIAN = "Köszönjük, hogy ő"


class TestSmsInfo:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("", SmsInfo("GSM-7", 0, 0)),
            ("a" * 160, SmsInfo("GSM-7", 160, 1)),
            ("a" * 161, SmsInfo("GSM-7", 161, 2)),
            ("a" * 306, SmsInfo("GSM-7", 306, 2)),  # 2 × 153
            ("a" * 307, SmsInfo("GSM-7", 307, 3)),
            (CYRILLIC * 70, SmsInfo("UCS-2", 70, 1)),
            (CYRILLIC * 71, SmsInfo("UCS-2", 71, 2)),
            (CYRILLIC * 134, SmsInfo("UCS-2", 134, 2)),  # 2 × 67
            (CYRILLIC * 135, SmsInfo("UCS-2", 135, 3)),
            (HUNGARIAN, SmsInfo("UCS-2", 17, 1)),
            ("€[]{}", SmsInfo("GSM-7", 10, 1)),  # extension table: two septets each
            ("€" * 80, SmsInfo("GSM-7", 160, 1)),
            ("€" * 81, SmsInfo("GSM-7", 162, 2)),
            # 152 plain + one escape pair does not fit part 1 (153): the pair moves to part 2.
            ("a" * 152 + "€" + "a" * 10, SmsInfo("GSM-7", 164, 2)),
            ("a" * 305 + "€", SmsInfo("GSM-7", 307, 3)),
            ("é É ñ ü ö Ä Ø å ß", SmsInfo("GSM-7", 17, 1)),  # all in the basic table
            ("Hello 😀", SmsInfo("UCS-2", 8, 1)),  # emoji: a surrogate pair, two code units
            ("😀" * 35, SmsInfo("UCS-2", 70, 1)),
            ("😀" * 36, SmsInfo("UCS-2", 72, 2)),
            ("a" * 66 + "😀" + "a", SmsInfo("UCS-2", 69, 1)),
            ("ж" * 66 + "😀" + "ж" * 5, SmsInfo("UCS-2", 73, 2)),  # pair not split at unit 67
        ],
    )
    def test_counts(self, text: str, expected: SmsInfo) -> None:
        assert sms_info(text) == expected

    @pytest.mark.parametrize("char", ["á", "í", "ó", "ú", "ő", "ű", "Ő", "Ű", "ж", "Я", "ç", "`"])
    def test_char_outside_gsm_forces_ucs2(self, char: str) -> None:
        assert sms_info("a" * 100 + char) == SmsInfo("UCS-2", 101, 2)

    @pytest.mark.parametrize("char", ["é", "É", "ñ", "ü", "ö", "Ä", "Ö", "Ü", "à", "Ç", "@", "£"])
    def test_basic_table_char_stays_gsm7(self, char: str) -> None:
        assert sms_info("a" * 159 + char) == SmsInfo("GSM-7", 160, 1)


class TestTables:
    def test_basic_table_has_127_characters_without_escape(self) -> None:
        assert len(GSM7_BASIC) == 127
        assert "\x1b" not in GSM7_BASIC

    def test_extension_table(self) -> None:
        assert GSM7_EXTENSION == frozenset("\f^{}\\[~]|€")

    def test_limits(self) -> None:
        assert (LIMITS["GSM-7"].single, LIMITS["GSM-7"].per_part) == (160, 153)
        assert (LIMITS["UCS-2"].single, LIMITS["UCS-2"].per_part) == (70, 67)
