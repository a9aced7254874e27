"""Conventions enforced in code: import direction, and no I/O or clock in deterministic code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from followthrough.settings import PROJECT_ROOT

#: The workflow-safe core (◆ in ARCHITECTURE.md): pure, clock-free, no I/O.
PURE_CORE = ["followthrough/ids.py", "followthrough/models", "followthrough/dsl", "followthrough/policy",
             "followthrough/calendar.py", "followthrough/clock.py", "followthrough/recurrence.py",
             "followthrough/tasks/due.py", "followthrough/tasks/lifecycle.py", "followthrough/tasks/invite.py",
             "followthrough/tasks/recurrence.py", "followthrough/leads/policy.py",
             "followthrough/leads/scoring.py",
             "followthrough/leads/validate.py",
             "followthrough/tickets/classify.py",
             "followthrough/tickets/sla.py",
             "followthrough/tickets/route.py",
             "followthrough/tickets/intake.py",
             "followthrough/tickets/validate.py",
             "followthrough/leads/first_touch.py"]
COMPOSITION = {"workflows", "activities", "channels", "api", "worker", "cli", "cli_enroll", "devstack", "bench", "tests"}
IO_MODULES = {"sqlalchemy", "sqlmodel", "aiosmtplib", "twilio", "httpx", "requests", "socket", "subprocess",
              "fastapi", "psycopg", "os", "random", "uuid", "time", "threading", "followthrough.store",
              "followthrough.settings", "followthrough.rendering"}
BANNED_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
                ("time", "time"), ("time", "sleep"), ("time", "monotonic"), ("uuid", "uuid4"),
                ("random", "random"), ("random", "randint"), ("random", "choice"), ("asyncio", "sleep")}
BANNED_NAMES = {"print", "open", "input", "eval", "exec"}
BANNED_METHODS = {"read_text", "write_text", "read_bytes", "write_bytes"}


def _files(*roots: str) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        path = PROJECT_ROOT / root
        found += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return found


def _imports(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _our_modules(tree: ast.AST) -> list[Path]:
    """The core's files a module imports (``from followthrough import ids`` is ``ids.py``; a
    package's ``__init__.py`` only when it is imported itself)."""
    names = _imports(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    files = []
    for name in names:
        if name.split(".")[0] != "followthrough":
            continue
        target = PROJECT_ROOT / Path(*name.split("."))
        if target.with_suffix(".py").exists():
            files.append(target.with_suffix(".py"))
        elif (target / "__init__.py").exists():
            files.append(target / "__init__.py")
        # Importing a module runs its packages' __init__ too.
        files += [parent / "__init__.py" for parent in target.parents
                  if PROJECT_ROOT in parent.parents and (parent / "__init__.py").exists()]
    return files


def _violations_of_purity(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    problems = [f"imports {name}" for name in _imports(tree)
                if any(name == m or name.startswith(m + ".") for m in IO_MODULES)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in BANNED_NAMES:
            problems.append(f"calls {func.id}() at line {node.lineno}")
        if isinstance(func, ast.Attribute):
            if func.attr in BANNED_METHODS:
                problems.append(f"calls .{func.attr}() at line {node.lineno}")
            if isinstance(func.value, ast.Name) and (func.value.id, func.attr) in BANNED_CALLS:
                problems.append(f"calls {func.value.id}.{func.attr}() at line {node.lineno}")
    return problems


class TestDeterministicCode:
    @pytest.mark.parametrize("path", _files(*PURE_CORE, "workflows"), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
    def test_no_io_no_clock_no_randomness(self, path: Path) -> None:
        problems = _violations_of_purity(path)
        if path.parts[-2] == "workflows":  # asyncio is how workflows wait; only its sleep is banned
            problems = [p for p in problems if p != "imports asyncio"]
        assert problems == []

    @pytest.mark.parametrize("path", _files("workflows"), ids=lambda p: p.name)
    def test_workflows_import_the_core_through_the_sandbox_pass_through(self, path: Path) -> None:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
        direct = [n.module for n in top_level
                  if n.module.split(".")[0] in {"followthrough", "activities"}]
        assert direct == [], "import these inside workflow.unsafe.imports_passed_through()"

    @pytest.mark.parametrize("path", _files("workflows"), ids=lambda p: p.name)
    def test_workflows_never_leave_the_sandbox(self, path: Path) -> None:
        """Decisions read only pinned data (definition, calendars, holiday dates), so nothing in
        a workflow needs ``sandbox_unrestricted``."""
        tree = ast.parse(path.read_text(encoding="utf-8"))
        escapes = [node.lineno for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute | ast.Name)
                   and "sandbox_unrestricted" in (getattr(node, "attr", None), getattr(node, "id", None))]
        assert escapes == []


    def test_only_the_chosen_workflows_run_outside_the_sandbox(self) -> None:
        """``sandboxed=False`` (each of those workflow modules says why) is a choice made per
        workflow, and only for code the purity test above covers entirely."""
        from temporalio.workflow import _Definition

        from workflows import WORKFLOWS

        outside = sorted(w.__name__ for w in WORKFLOWS if not _Definition.must_from_class(w).sandboxed)
        assert outside == ["LeadWorkflow", "SequenceWorkflow", "TaskWorkflow", "TicketWorkflow"]

    @pytest.mark.parametrize("module", ["workflows/sequence.py", "workflows/task.py", "workflows/ticket.py",
                                        "workflows/lead.py"])
    def test_an_unsandboxed_workflow_calls_only_the_pure_core(self, module: str) -> None:
        """Nothing checks an unsandboxed workflow's calls at run time, so every module of the
        core it imports, and every one those import in turn (their packages' ``__init__``
        included), makes no I/O, clock or random call (``activities`` only lends its method
        names to the commands; none of them runs in the workflow)."""
        seen: set[Path] = set()
        todo = [PROJECT_ROOT / module]
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            todo += _our_modules(ast.parse(path.read_text(encoding="utf-8")))
        core = sorted(p for p in seen if "followthrough" in p.relative_to(PROJECT_ROOT).parts)
        assert len(core) > 5  # the walk found the core (a broken walk would find nothing)
        problems = {str(p.relative_to(PROJECT_ROOT)): _violations_of_purity(p) for p in core}
        assert {path: found for path, found in problems.items() if found} == {}


class TestImportDirection:
    @pytest.mark.parametrize("path", _files("followthrough"), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
    def test_the_core_uses_none_of_the_outer_packages(self, path: Path) -> None:
        names = _imports(ast.parse(path.read_text(encoding="utf-8")))
        outer = [n for n in names if n.split(".")[0] in COMPOSITION]
        assert outer == []

    @pytest.mark.parametrize("path", _files("workflows"), ids=lambda p: p.name)
    def test_workflows_never_touch_storage_or_channels(self, path: Path) -> None:
        names = _imports(ast.parse(path.read_text(encoding="utf-8")))
        bad = [n for n in names if n.startswith(("followthrough.store", "channels", "api", "sqlalchemy", "sqlmodel"))]
        assert bad == []
