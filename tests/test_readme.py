"""The README shows real files: every embedded file block equals the file it names."""

from __future__ import annotations

import re

import pytest

from followthrough.settings import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
#: ``<!-- path -->`` + a fenced block + ``<!-- /path -->``: the block is that file, verbatim.
EMBEDDED = re.compile(r"<!-- (?P<path>[\w./-]+) -->\n```\w*\n(?P<body>.*?)```\n<!-- /(?P=path) -->", re.S)
BLOCKS = {match["path"]: match["body"] for match in EMBEDDED.finditer(README)}


def test_the_readme_shows_a_built_in_definition() -> None:
    assert [path for path in BLOCKS if path.startswith("definitions/")] == ["definitions/welcome_sequence.yaml"]


@pytest.mark.parametrize("path", sorted(BLOCKS))
def test_an_embedded_file_equals_the_file(path: str) -> None:
    assert BLOCKS[path] == (PROJECT_ROOT / path).read_text(encoding="utf-8")
