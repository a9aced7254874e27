"""The definition loader: YAML without aliases or tags beyond JSON's types and dates."""

from __future__ import annotations

import datetime

import pytest

from followthrough.dsl.loader import parse_document
from followthrough.errors import ValidationFailed


def billion_laughs() -> str:
    """A valid-looking definition whose set step's value nests nine levels, each a list of nine
    aliases of the one before: 9^9 strings once walked (validated, dumped, stored)."""
    lines = ["name: bomb", "kind: sequence", "steps:", "  - id: s", "    type: set",
             "    target: attributes.x", "    value:",
             "      a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']"]
    for level in range(1, 9):
        name, previous = chr(97 + level), chr(96 + level)
        lines.append(f"      {name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


class TestStrictYaml:
    def test_an_alias_bomb_is_refused_naming_the_alias(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            parse_document(billion_laughs(), yaml_format=True)
        assert caught.value.message == (
            "The YAML does not parse at line 9, column 14: aliases (*a) are not allowed")

    def test_a_merge_key_uses_an_alias_and_is_refused(self) -> None:
        with pytest.raises(ValidationFailed, match=r"aliases \(\*base\) are not allowed"):
            parse_document("base: &base {x: 1}\nother:\n  <<: *base\n", yaml_format=True)

    @pytest.mark.parametrize(("text", "tag"), [
        ("x: !!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
        ("x: !!python/name:os.system ''", "!!python/name:os.system"),
        ("x: !!binary aGk=", "!!binary"),
        ("x: !!set {a: null}", "!!set"),
        ("x: !local 1", "!local"),
    ])
    def test_tags_beyond_json_are_refused(self, text: str, tag: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            parse_document(text, yaml_format=True)
        assert caught.value.message == f"The YAML does not parse at line 1, column 4: the tag {tag} is not allowed"

    def test_plain_yaml_still_loads_with_dates(self) -> None:
        text = "name: x\nwhen: 2026-01-01\nn: null\nf: 1.5\nb: true\ns: !!str 5\nl: [1, 2]\n"
        assert parse_document(text, yaml_format=True) == {
            "name": "x", "when": datetime.date(2026, 1, 1), "n": None, "f": 1.5, "b": True,
            "s": "5", "l": [1, 2]}

    @pytest.mark.parametrize("yaml_format", [True, False])
    def test_deep_nesting_is_refused(self, yaml_format: bool) -> None:
        with pytest.raises(ValidationFailed, match="^The document is nested too deeply.$"):
            parse_document("[" * 100_000, yaml_format=yaml_format)
