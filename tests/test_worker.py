"""The worker process starts light: what it imports, and the build id it computes itself.

How fast it polls is a figure, not a test: ``python -m bench.startup`` (bench/RESULTS.md)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment

import worker
from followthrough.settings import PROJECT_ROOT, Settings
from tests.support.stack import make_deps, running_worker

#: Packages the worker never needs before it polls: the API's web stack, the CLI's HTTP client,
#: migrations (the database is normally at head), the Twilio SDK (built after polling starts),
#: the holidays package's country modules (loaded per country when a run pins its dates), the
#: calendar invitations' icalendar (first used by a task reminder), the PostgreSQL dialect on SQLite.
NOT_BEFORE_POLLING = ("api", "fastapi", "starlette", "uvicorn", "httpx", "alembic", "mako", "twilio",
                      "requests", "holidays.countries", "psycopg", "multipart", "aiosmtpd", "icalendar",
                      "sqlalchemy.dialects.postgresql")


def loaded_by(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def heavy(modules: list[str]) -> list[str]:
    return sorted({m for m in modules for p in NOT_BEFORE_POLLING if m == p or m.startswith(p + ".")})


class TestImports:
    def test_the_worker_command_loads_none_of_the_heavy_packages_it_does_not_need(self) -> None:
        """What `followthrough worker` has loaded when it builds the worker: the CLI, the
        worker module and a built registry of channels."""
        modules = loaded_by("import cli, worker\n"
                            "from followthrough.settings import Settings\n"
                            "worker.build_channels(Settings(_env_file=None))")
        assert "temporalio.worker" in modules and "sqlmodel" in modules  # it did load the worker
        assert heavy(modules) == []

    def test_the_check_sees_a_heavy_package(self) -> None:
        assert heavy(loaded_by("import cli, api.app")) != []


class TestBuildId:
    def test_it_names_our_sources(self) -> None:
        assert worker.build_id().startswith("followthrough-") and len(worker.build_id()) == 34

    def test_it_changes_with_any_source_file_and_with_the_lock_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("workflows", "activities"):
            shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
        (tmp_path / "uv.lock").write_text("version = 1\n")
        monkeypatch.setattr(worker, "PROJECT_ROOT", tmp_path)
        compute = worker.build_id.__wrapped__  # type: ignore[attr-defined]
        first = compute()
        assert compute() == first
        with (tmp_path / "activities" / "runs.py").open("a") as source:
            source.write("\n")
        second = compute()
        (tmp_path / "uv.lock").write_text("version = 2\n")
        assert len({first, second, compute()}) == 3

    async def test_the_worker_polls_with_it(self, dev_env: WorkflowEnvironment, edge_settings: Settings,
                                            engine: Engine) -> None:
        request = DescribeTaskQueueRequest(
            namespace=dev_env.client.namespace, task_queue=TaskQueue(name=edge_settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        async with running_worker(dev_env.client, edge_settings, engine):
            for _ in range(100):  # until its first poll reached the server
                pollers = (await dev_env.client.workflow_service.describe_task_queue(request)).pollers
                if pollers:
                    break
                await asyncio.sleep(0.05)
        assert {p.worker_version_capabilities.build_id for p in pollers} == {worker.build_id()}



class TestWorkflowCache:
    def test_it_holds_the_open_tasks_of_the_reminder_benchmark_by_default(self) -> None:
        assert Settings.model_fields["worker_max_cached_workflows"].default == 10_000

    async def test_its_size_is_the_setting(self, dev_env: WorkflowEnvironment, settings: Settings,
                                           engine: Engine) -> None:
        tuned = settings.model_copy(update={"worker_max_cached_workflows": 1234})
        built = worker.build_worker(dev_env.client, tuned, make_deps(tuned, engine))
        async with built:  # run and shut down, so nothing of it outlives the test
            assert built.config()["max_cached_workflows"] == 1234
