"""``Authentication-Results`` (RFC 8601): did the receiving relay verify the sender? Pure.

An inbound email stops runs only when it really comes from the address it names: anyone can
write ``From: anna@example.com``. The receiving relay checks DKIM and SPF and writes what it
found in an ``Authentication-Results`` header at the top of the message, e.g.::

    Authentication-Results: mx.example.net; dkim=pass (2048-bit key) header.d=example.com
        header.s=sel1; spf=pass smtp.mailfrom=anna@example.com; dmarc=pass header.from=example.com

A mail is verified when a ``dkim=pass`` signs for the From domain or a parent of it
(``header.d=example.com`` covers ``mail.example.com``, as DMARC's relaxed alignment does), or an
``spf=pass`` holds for an envelope sender (``smtp.mailfrom``) in that domain or a parent of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: RFC 8601 §2.2 tokens once comments are gone: a quoted-string, "=", or a run of other text.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|=|[^\s="]+')


@dataclass(frozen=True)
class ResultInfo:
    """One ``method=result`` with its properties, e.g. ``dkim``, ``pass``, ``{"header.d": ...}``."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


def _strip_comments(value: str) -> str:
    """Drop RFC 5322 comments (nested parentheses), keeping quoted strings as they are."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if quoted:
            quoted = char != '"'
            out.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _split(value: str) -> list[str]:
    """Split on ``;`` outside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


def parse(value: str) -> tuple[str, list[ResultInfo]]:
    """(authserv-id, results) of one header value; unparsable pieces are skipped, never guessed."""
    parts = _split(_strip_comments(value))
    head = _TOKEN.findall(parts[0])
    authserv_id = _unquote(head[0]).lower() if head else ""
    results: list[ResultInfo] = []
    for part in parts[1:]:
        tokens = _TOKEN.findall(part)
        pairs: list[tuple[str, str]] = []
        i = 0
        while i + 2 < len(tokens) and tokens[i + 1] == "=":
            pairs.append((tokens[i].lower(), _unquote(tokens[i + 2])))
            i += 3
        if not pairs or i != len(tokens):
            continue  # "none", or a piece we cannot read: it proves nothing
        method, result = pairs[0]
        results.append(ResultInfo(method.split("/")[0], result.lower(), dict(pairs[1:])))
    return authserv_id, results


def _domain(value: str) -> str:
    """The domain of an address or a bare domain, lower-cased, without a trailing dot."""
    return value.rpartition("@")[2].strip().strip(".").lower()


def _covers(signer: str, sender: str) -> bool:
    """True when ``signer`` is the sender's domain or a parent of it (never a mere suffix:
    ``ample.com`` does not cover ``example.com``)."""
    return bool(signer) and "." in signer and (sender == signer or sender.endswith("." + signer))


def verified_by(value: str | None, from_address: str) -> str | None:
    """What proved that the mail comes from ``from_address``'s domain, e.g.
    ``"dkim header.d=example.com"``, or ``None`` when nothing did."""
    if not value:
        return None
    sender = _domain(from_address)
    if not sender:
        return None
    _, results = parse(value)
    for info in results:
        if info.result != "pass":
            continue
        if info.method == "dkim":
            signer = _domain(info.properties.get("header.d") or info.properties.get("header.i", ""))
            if _covers(signer, sender):
                return f"dkim header.d={signer}"
        elif info.method == "spf":
            envelope = _domain(info.properties.get("smtp.mailfrom", ""))
            if _covers(envelope, sender):
                return f"spf smtp.mailfrom={envelope}"
    return None
