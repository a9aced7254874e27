"""Authentication-Results (RFC 8601): parsing, and what proves a mail is from its From domain."""

from __future__ import annotations

import pytest

from channels.inbound.auth_results import ResultInfo, parse, verified_by

GMAIL = ("mx.google.com; dkim=pass header.i=@example.com header.s=20230601 header.b=AbCd; "
         "spf=pass (google.com: domain of anna@example.com designates 192.0.2.1 as permitted sender) "
         "smtp.mailfrom=anna@example.com; dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com")


class TestParse:
    def test_a_real_world_header(self) -> None:
        assert parse(GMAIL) == ("mx.google.com", [
            ResultInfo("dkim", "pass", {"header.i": "@example.com", "header.s": "20230601", "header.b": "AbCd"}),
            ResultInfo("spf", "pass", {"smtp.mailfrom": "anna@example.com"}),
            ResultInfo("dmarc", "pass", {"header.from": "example.com"}),
        ])

    def test_version_comments_quotes_and_spaces_around_equals(self) -> None:
        value = ('mx.example.net 1 (the relay; it says "hi"); DKIM = Pass (good (nested) sig) '
                 'header.d="example.com"; spf=fail reason="not; permitted" smtp.mailfrom=x@evil.test')
        assert parse(value) == ("mx.example.net", [
            ResultInfo("dkim", "pass", {"header.d": "example.com"}),
            ResultInfo("spf", "fail", {"reason": "not; permitted", "smtp.mailfrom": "x@evil.test"}),
        ])

    def test_none_and_unreadable_pieces_prove_nothing(self) -> None:
        assert parse("mx.example.net; none") == ("mx.example.net", [])
        assert parse("mx.example.net; dkim=pass header.d") == ("mx.example.net", [])


class TestVerifiedBy:
    @pytest.mark.parametrize(("header", "sender", "expected"), [
        (GMAIL, "anna@example.com", "dkim header.d=example.com"),
        ("mx; dkim=pass header.d=example.com", "Anna@Example.COM", "dkim header.d=example.com"),
        # A parent domain signs for its subdomains (DMARC relaxed alignment).
        ("mx; dkim=pass header.d=example.com", "anna@mail.example.com", "dkim header.d=example.com"),
        ("mx; spf=pass smtp.mailfrom=bounce@example.com", "anna@example.com", "spf smtp.mailfrom=example.com"),
        ("mx; spf=pass smtp.mailfrom=example.com", "anna@example.com", "spf smtp.mailfrom=example.com"),
        ("mx; dkim=fail header.d=example.com; spf=pass smtp.mailfrom=a@example.com", "anna@example.com",
         "spf smtp.mailfrom=example.com"),
        # Fails.
        ("mx; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=a@example.com", "anna@example.com",
         None),
        ("mx; dkim=neutral header.d=example.com; spf=none smtp.mailfrom=a@example.com", "anna@example.com",
         None),
        # A pass for another domain proves nothing about this sender.
        ("mx; dkim=pass header.d=evil.test; spf=pass smtp.mailfrom=x@evil.test", "ceo@example.com", None),
        # A subdomain does not sign for its parent, a suffix is not a parent, a TLD signs for nobody.
        ("mx; dkim=pass header.d=mail.example.com", "anna@example.com", None),
        ("mx; dkim=pass header.d=ample.com", "anna@example.com", None),
        ("mx; dkim=pass header.d=com", "anna@example.com", None),
        # dmarc or arc passes are not what we check; a missing or empty header proves nothing.
        ("mx; dmarc=pass header.from=example.com", "anna@example.com", None),
        ("", "anna@example.com", None),
        (None, "anna@example.com", None),
        ("mx; dkim=pass header.d=example.com", "", None),
    ])
    def test_verified_by(self, header: str | None, sender: str, expected: str | None) -> None:
        assert verified_by(header, sender) == expected
