"""The README's configuration table names every ``FT_`` setting the CLI and the services read:
the Settings fields (pydantic-settings, prefix ``FT_``) and the environment variables read
directly (``os.environ``, ``os.getenv``, typer's ``envvar=``) anywhere outside the tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from followthrough.settings import PROJECT_ROOT, Settings

#: Reads of an ``FT_`` variable in source: ``os.environ.get("FT_X")``, ``os.getenv("FT_X")``,
#: ``os.environ["FT_X"]``, ``"FT_X" in os.environ``, ``typer.Option(envvar="FT_X")``.
_READS = re.compile(
    r"""(?:environ\.get|getenv)\(\s*['"](FT_\w+)"""
    r"""|environ\[\s*['"](FT_\w+)"""
    r"""|['"](FT_\w+)['"]\s+(?:not\s+)?in\s+os\.environ"""
    r"""|envvar\s*=\s*['"](FT_\w+)"""
)
_SKIPPED = {".venv", "tests", ".git", "__pycache__"}


def environment_reads(root: Path = PROJECT_ROOT) -> dict[str, set[str]]:
    """Every ``FT_`` variable read directly, with the files that read it."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        relative = path.relative_to(root)
        if _SKIPPED & set(relative.parts):
            continue
        for match in _READS.finditer(path.read_text(encoding="utf-8")):
            name = next(group for group in match.groups() if group)
            found.setdefault(name, set()).add(relative.as_posix())
    return found


def settings_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix")
    assert prefix == "FT_"
    return {prefix + name.upper() for name in Settings.model_fields}


def documented(readme: str) -> set[str]:
    """The ``FT_`` names in the first column of the README's configuration table."""
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `FT_"):
            names.update(re.findall(r"`(FT_\w+)`", line.split(" | ", 1)[0]))
    return names


class TestTheConfigurationTable:
    def test_names_every_setting_and_every_variable_read(self) -> None:
        table = documented((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
        read = environment_reads()
        missing = sorted((settings_names() | set(read)) - table)
        assert missing == [], "not in README's configuration table: " + ", ".join(
            f"{name} ({', '.join(sorted(read.get(name, {'followthrough/settings.py'})))})" for name in missing)

    def test_names_nothing_the_code_does_not_read(self) -> None:
        table = documented((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))
        assert sorted(table - settings_names() - set(environment_reads())) == []


class TestTheCollectors:
    """The checks above can fail: the collectors see what they are meant to see."""

    def test_the_direct_reads_are_found(self) -> None:
        read = environment_reads()
        assert read["FT_API_URL"] >= {"cli_api.py", "cli.py"}
        assert read["FT_PUBLIC_BASE_URL"] == {"devstack.py"}

    @pytest.mark.parametrize("source", [
        'os.environ.get("FT_NEW_THING")', "os.getenv('FT_NEW_THING', '1')", 'os.environ["FT_NEW_THING"]',
        'if "FT_NEW_THING" not in os.environ: pass', 'typer.Option("", envvar="FT_NEW_THING")',
    ])
    def test_a_new_read_is_found(self, tmp_path: Path, source: str) -> None:
        (tmp_path / "mod.py").write_text(f"import os\n{source}\n")
        assert environment_reads(tmp_path) == {"FT_NEW_THING": {"mod.py"}}

    def test_the_table_is_read_name_by_name(self) -> None:
        readme = ("# R\n\n## Configuration\n\n| variable | default | meaning |\n|---|---|---|\n"
                  "| `FT_A` / `FT_B` | `1` | see `FT_C` |\n| `FT_D`, `FT_E` | | |\n\n## Next\n| `FT_F` | | |\n")
        assert documented(readme) == {"FT_A", "FT_B", "FT_D", "FT_E"}
