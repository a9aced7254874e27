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


#: ``PATCH_X = "id"`` in a workflow module: a change of the commands runs issue.
PATCH_ID = re.compile(r'^PATCH_\w+ = "(?P<id>[\w-]+)"', re.M)
PATCHES = sorted({m["id"] for path in (PROJECT_ROOT / "workflows").glob("*.py")
                  for m in PATCH_ID.finditer(path.read_text(encoding="utf-8"))})


def test_patches_are_found() -> None:
    assert {"lean-bookkeeping", "contact-when-read", "task-overdue-after-reminder"} <= set(PATCHES)


@pytest.mark.parametrize("patch", PATCHES)
def test_every_workflow_patch_is_in_the_versioning_table(patch: str) -> None:
    """An operator upgrading reads there what each patch changed ("Versioning workflows")."""
    documented = re.findall(r"^\| `(?P<id>[\w<>-]+)` \|", README, re.M)
    assert patch in {d.replace("-<n>", "") for d in documented}
