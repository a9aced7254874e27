"""The `followthrough definitions` commands: full validation of files, and apply through the API
(the real app, reached through Starlette's TestClient in place of the HTTP client)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

import cli
from followthrough.settings import PROJECT_ROOT, Settings
from followthrough.store import definitions, ledger
from followthrough.store.db import session_scope
from tests.conftest import ADMIN_KEY, PAYLOAD_KEY

runner = CliRunner()
MAIL = {"id": "mail", "type": "send", "channel": "email", "template": "welcome"}


def write(folder: Path, name: str, *steps: dict, **top: object) -> Path:
    document = {"name": name, "kind": "sequence", "locales": ["en", "hu"], "steps": list(steps or [MAIL]),
                **top}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No API configured (no URL, no key, an empty data directory): the files only, silently."""
    for name in ("FT_API_URL", "FT_ADMIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FT_DATA_DIR", str(tmp_path / "no-data"))


@pytest.mark.usefixtures("no_api")
class TestValidate:

    def test_valid_files_and_the_builtin_definitions(self, tmp_path: Path) -> None:
        path = write(tmp_path, "welcome_mail")
        builtin = PROJECT_ROOT / "definitions" / "welcome_sequence.yaml"
        code, out, err = invoke("definitions", "validate", str(path), str(builtin))
        assert (code, err) == (0, "")
        assert out.splitlines() == [f"{path}: ok (welcome_mail, 1 steps)",
                                    f"{builtin}: ok (welcome_sequence, 5 steps)"]

    def test_prints_every_error_with_its_path_and_fails(self, tmp_path: Path) -> None:
        path = write(tmp_path, "broken",
                     {"id": "mail", "type": "send", "channel": "sms", "template": "nope"},
                     {"id": "hold", "type": "wait", "business": {"duration": "PT1H", "calendar": "mars"}},
                     {"id": "mail", "type": "exit"})
        code, out, err = invoke("definitions", "validate", str(path))
        assert (code, out) == (1, "")
        lines = [line.strip() for line in err.splitlines()]
        assert lines[0] == f"{path}: 4 error(s)"
        assert sorted(lines[1:]) == [
            "/steps/0/template: no sms template 'nope' for locale 'en'",
            "/steps/0/template: no sms template 'nope' for locale 'hu'",
            "/steps/1/business/calendar: no calendar named 'mars'",
            "/steps/2/id: step id 'mail' is used twice (first at /steps/0)",
        ]

    def test_file_calendars_count(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cli, "_settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
        path = write(tmp_path, "office", {"id": "hold", "type": "wait",
                                          "business": {"duration": "PT1H", "calendar": "budapest_office"}})
        assert invoke("definitions", "validate", str(path))[0] == 0

    def test_schema_errors_and_unreadable_files(self, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("name: x\nkind: sequence\nsteps: [{id: a, type: teleport}]\n", encoding="utf-8")
        broken = tmp_path / "broken.yaml"
        broken.write_text("name: [unclosed\n", encoding="utf-8")
        code, _, err = invoke("definitions", "validate", str(bad), str(broken), str(tmp_path / "none.yaml"))
        assert code == 1
        assert f"{bad}: 1 error(s)" in err and "/steps/0" in err
        assert f"{broken}: The YAML does not parse at line 2" in err
        assert f"{tmp_path / 'none.yaml'}: cannot read it: No such file or directory" in err

    def test_long_sms_is_a_warning_only(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        templates = tmp_path / "templates"
        (templates / "sms").mkdir(parents=True)
        (templates / "sms" / "long.en.text.j2").write_text("x" * 400, encoding="utf-8")
        monkeypatch.setenv("FT_TEMPLATES_DIR", str(templates))
        path = write(tmp_path, "chatty", {"id": "t", "type": "send", "channel": "sms", "template": "long"},
                     locales=["en"])
        code, out, err = invoke("definitions", "validate", str(path))
        assert code == 0 and out.startswith(f"{path}: ok")
        assert err == ""  # 400 characters are 3 parts: at the limit, not over it
        (templates / "sms" / "long.en.text.j2").write_text("x" * 500, encoding="utf-8")
        code, _, err = invoke("definitions", "validate", str(path))
        assert code == 0
        assert err.splitlines() == [f"{path}: 1 warning(s)",
                                    "  /steps/0/template: SMS 'long' (en) is 4 segments, over the limit of 3"]


@pytest.fixture
def through_app(monkeypatch: pytest.MonkeyPatch, settings: Settings, engine: Engine) -> Engine:
    """`apply` talks to the real app (its database is ``engine``) instead of a URL."""
    from api.app import create_app

    app = create_app(settings, engine=engine)

    def client(base_url: str, api_key: str) -> httpx.Client:
        assert base_url == "http://api.test:8000"
        return TestClient(app, base_url=base_url, headers={"Authorization": f"Bearer {api_key}"})

    monkeypatch.setattr(cli, "api_client", client)
    monkeypatch.setenv("FT_API_URL", "http://api.test:8000")
    monkeypatch.setenv("FT_ADMIN_API_KEY", ADMIN_KEY)
    return engine


def table_rows(out: str) -> list[list[str]]:
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").replace("┃", "│").split("│")]
        if len(cells) == 5 and cells[0].endswith((".yaml", ".json")):
            rows.append(cells[1:])
    return rows


def state(engine: Engine, name: str) -> tuple[int, int | None]:
    with session_scope(engine) as session:
        latest, active = definitions.latest_version(session, name), definitions.active(session, name)
        return latest.version, (active.version if active else None)  # type: ignore[union-attr]


class TestApply:
    def test_creates_and_publishes_then_is_idempotent(self, tmp_path: Path, through_app: Engine) -> None:
        write(tmp_path, "alpha")
        write(tmp_path, "beta", MAIL, {"id": "pause", "type": "wait", "duration": "P1D"})
        code, out, err = invoke("definitions", "apply", str(tmp_path))
        assert (code, err) == (0, "")
        assert table_rows(out) == [["alpha", "1", "yes", "yes"], ["beta", "1", "yes", "yes"]]
        code, out, _ = invoke("definitions", "apply", str(tmp_path))
        assert code == 0
        assert table_rows(out) == [["alpha", "1", "no", "yes"], ["beta", "1", "no", "yes"]]
        assert state(through_app, "alpha") == (1, 1)

    def test_no_publish_saves_a_draft_and_a_later_apply_publishes_it(
        self, tmp_path: Path, through_app: Engine
    ) -> None:
        path = write(tmp_path, "alpha")
        invoke("definitions", "apply", str(path))
        write(tmp_path, "alpha", MAIL, category="sales")
        code, out, _ = invoke("definitions", "apply", "--no-publish", str(path))
        assert (code, table_rows(out)) == (0, [["alpha", "2", "yes", "no"]])
        assert state(through_app, "alpha") == (2, 1)
        code, out, _ = invoke("definitions", "apply", str(path))
        assert (code, table_rows(out)) == (0, [["alpha", "2", "no", "yes"]])
        assert state(through_app, "alpha") == (2, 2)

    def test_invalid_file_shows_paths_and_fails_but_others_apply(
        self, tmp_path: Path, through_app: Engine
    ) -> None:
        write(tmp_path, "alpha")
        write(tmp_path, "broken", {"id": "mail", "type": "send", "channel": "email", "template": "nope"})
        code, out, err = invoke("definitions", "apply", str(tmp_path))
        assert code == 1
        assert table_rows(out) == [["alpha", "1", "yes", "yes"]]
        text = " ".join(err.split())
        assert "broken.yaml: HTTP 422: The definition has 2 problem(s); nothing was saved." in text
        assert "/steps/0/template: no email template 'nope' for locale 'hu'" in text

    def test_a_wrong_key_is_reported(self, tmp_path: Path, through_app: Engine,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FT_ADMIN_API_KEY", "wrong")
        code, _, err = invoke("definitions", "apply", str(write(tmp_path, "alpha")))
        assert code == 1
        assert "HTTP 401: The API key is not valid." in " ".join(err.split())

    def test_api_down_is_a_readable_error(self, tmp_path: Path) -> None:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        code, _, err = invoke("definitions", "apply", "--api-url", url, str(write(tmp_path, "alpha")))
        assert code == 2
        assert f"cannot reach the API at {url}" in " ".join(err.split())

    def test_empty_folder(self, tmp_path: Path) -> None:
        code, _, err = invoke("definitions", "apply", str(tmp_path))
        assert code == 1 and "no definition files" in err


class TestPreview:
    def test_prints_the_planned_steps_for_a_sample_contact(self, through_app: Engine) -> None:
        contact = json.dumps({"name": "Анна", "locale": "ru", "time_zone": "Europe/Moscow",
                              "email": "anna@example.test", "phone": "+15555550123"})
        result = runner.invoke(cli.app, ["definitions", "preview", "welcome_sequence", "--contact", contact,
                                         "--start", "2026-12-07T08:00:00Z", "--json"])
        assert result.exit_code == 0, result.output
        preview = json.loads(result.stdout)
        assert [(s["step_id"], s["state"]) for s in preview["steps"]] == [
            ("welcome_email", "sent"), ("wait_before_sms", "done"), ("followup_sms", "sent"),
            ("wait_before_call", "done"), ("welcome_call", "sent"),
        ]
        assert "Анна" in preview["steps"][0]["message"]["text"]
        with session_scope(through_app) as session:
            assert ledger.list_page(session) == []

    def test_a_table_by_default_and_readable_errors(self, through_app: Engine) -> None:
        table = runner.invoke(cli.app, ["definitions", "preview", "welcome_sequence", "--contact",
                                        '{"name": "Kim", "email": "kim@example.test"}'])
        assert table.exit_code == 0, table.output
        assert "welcome_email" in table.stdout and "ends completed" in table.stdout
        missing = runner.invoke(cli.app, ["definitions", "preview", "no_such", "--contact", "{}"])
        assert missing.exit_code == 1
        assert "HTTP 404" in missing.output
        bad = runner.invoke(cli.app, ["definitions", "preview", "welcome_sequence", "--data", "{oops"])
        assert bad.exit_code == 1 and "not JSON" in bad.output


class TestSecrets:
    """`api` and `worker` fail fast, naming every missing secret; the worker never needs the
    admin key."""

    @pytest.fixture(autouse=True)
    def clean_env(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
        import logging
        import os

        import structlog

        for name in [n for n in os.environ if n.startswith("FT_")]:
            monkeypatch.delenv(name)
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setenv("FT_TEMPORAL_ADDRESS", f"127.0.0.1:{port}")
        monkeypatch.setenv("FT_DATA_DIR", str(tmp_path / "data"))
        mail_log, root = logging.getLogger("mail.log"), logging.getLogger()
        level, root_handlers, root_level = mail_log.level, list(root.handlers), root.level
        yield
        # `api` and `worker` configured logging for their process: undo it for the next test.
        structlog.reset_defaults()
        mail_log.setLevel(level)
        root.handlers[:] = root_handlers
        root.setLevel(root_level)
        logging.captureWarnings(False)

    def test_api_refuses_to_start_without_a_secret_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FT_ADMIN_API_KEY", ADMIN_KEY)
        monkeypatch.setenv("FT_PAYLOAD_KEYS", PAYLOAD_KEY)
        code, _, err = invoke("api")
        assert code == 2
        assert "configuration error: FT_SECRET_KEY is not set" in " ".join(err.split())

    def test_api_names_every_missing_secret(self) -> None:
        code, _, err = invoke("api")
        assert code == 2
        text = " ".join(err.split())
        assert [name for name in ("FT_ADMIN_API_KEY", "FT_SECRET_KEY", "FT_PAYLOAD_KEYS")
                if f"configuration error: {name} is not set" in text] == [
            "FT_ADMIN_API_KEY", "FT_SECRET_KEY", "FT_PAYLOAD_KEYS"]

    def test_worker_needs_the_secret_and_payload_keys(self) -> None:
        code, _, err = invoke("worker")
        text = " ".join(err.split())
        assert code == 2
        assert "FT_SECRET_KEY is not set" in text and "FT_PAYLOAD_KEYS is not set" in text
        assert "FT_ADMIN_API_KEY" not in text

    def test_worker_starts_without_the_admin_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FT_SECRET_KEY", "a-secret-key-0123456789")
        monkeypatch.setenv("FT_PAYLOAD_KEYS", PAYLOAD_KEY)
        code, _, err = invoke("worker")
        # Past every check: it got as far as connecting to Temporal, where nothing listens.
        assert code == 1
        assert "worker failed: Failed client connect" in " ".join(err.split())

    def test_the_worker_turns_the_garbage_collector_back_on_when_it_fails(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`worker` starts with the cyclic GC off (imports); a worker that ends, here for want
        of a Temporal server, leaves it on for the rest of the process."""
        import gc

        monkeypatch.setenv("FT_SECRET_KEY", "a-secret-key-0123456789")
        monkeypatch.setenv("FT_PAYLOAD_KEYS", PAYLOAD_KEY)
        assert gc.isenabled()
        code, _, _ = invoke("worker")
        assert code == 1
        assert gc.isenabled()

    def test_a_payload_key_of_the_wrong_size_is_a_configuration_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FT_PAYLOAD_KEYS", PAYLOAD_KEY + ",c2hvcnQ=")
        code, _, err = invoke("worker")
        assert code == 2
        assert "FT_PAYLOAD_KEYS: Value error, key 2 is 5 bytes; AES-256 needs 32" in " ".join(err.split())


class TestWorkerRole:
    def test_an_unknown_role_is_refused_with_the_roles_named(self) -> None:
        code, out, err = invoke("worker", "--role", "everything")
        assert code == 2
        assert "--role must be one of all, workflows, activities (not 'everything')" in " ".join(err.split())
        assert "Traceback" not in out + err
