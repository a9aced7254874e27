"""SMS length limits as data: GSM 03.38 (3GPP TS 23.038) alphabets and segment sizes.

A message that fits the GSM 7-bit default alphabet costs one septet per basic character and two
per extension character (ESC + code). Anything else forces UCS-2 (UTF-16 code units on the wire),
which cuts a segment from 160 to 70 characters. Concatenated messages lose room to the user data
header (UDH): 153 septets or 67 code units per part. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

#: GSM 03.38 default alphabet (basic table), in code order; ESC (0x1B) is left out on purpose
#: because it only introduces the extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)

#: GSM 03.38 extension table: each costs two septets (ESC + code).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class SegmentLimits:
    single: int  # units in a message sent as one segment
    per_part: int  # units per part of a concatenated message (UDH takes the rest)


#: Units are septets for GSM-7 and UTF-16 code units for UCS-2.
LIMITS: dict[Encoding, SegmentLimits] = {
    "GSM-7": SegmentLimits(single=160, per_part=153),
    "UCS-2": SegmentLimits(single=70, per_part=67),
}


@dataclass(frozen=True)
class SmsInfo:
    encoding: Encoding
    characters: int  # septets (GSM-7, extension chars count 2) or UTF-16 code units (UCS-2)
    segments: int  # 0 for an empty text


def _is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_costs(text: str, encoding: Encoding) -> list[int]:
    """Cost of each character in wire units; kept per character so none is split across parts."""
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # Characters outside the BMP are a surrogate pair: two UTF-16 code units.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_parts(costs: list[int], per_part: int) -> int:
    """Pack greedily: an escape sequence or a surrogate pair never straddles two parts."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def sms_info(text: str) -> SmsInfo:
    """Encoding, length in wire units and number of segments for one SMS body."""
    encoding: Encoding = "GSM-7" if _is_gsm7(text) else "UCS-2"
    costs = _unit_costs(text, encoding)
    characters = sum(costs)
    limits = LIMITS[encoding]
    if characters == 0:
        segments = 0
    elif characters <= limits.single:
        segments = 1
    else:
        segments = _count_parts(costs, limits.per_part)
    return SmsInfo(encoding=encoding, characters=characters, segments=segments)
