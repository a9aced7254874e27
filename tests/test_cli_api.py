"""The CLI finds what `make dev` made: the admin key in the data directory, the API's address,
and says which key the API refused (a real API served by uvicorn on loopback)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import Engine
from typer.testing import CliRunner

import cli
from cli_api import default_api_url, resolve_key
from followthrough.settings import PROJECT_ROOT, Settings
from tests.conftest import ADMIN_KEY

runner = CliRunner()


@pytest.fixture
def served(settings: Settings, engine: Engine) -> Iterator[str]:
    """The real app on a loopback port, for as long as the test runs."""
    from api.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


def _clean_env(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for name in ("FT_ADMIN_API_KEY", "FT_API_URL", "FT_API_HOST", "FT_API_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FT_DATA_DIR", str(data_dir))


class TestWhereTheKeyComesFrom:
    def test_the_given_key_wins(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text("from-file\n")
        assert resolve_key("given").value == "given"

    def test_else_the_key_make_dev_wrote(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text("ft_admin_xyz\n")
        key = resolve_key("")
        assert (key.value, key.source) == ("ft_admin_xyz", str(tmp_path / "admin_api_key"))

    def test_none_at_all_says_so(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        _clean_env(monkeypatch, tmp_path)
        key = resolve_key("")
        assert key.value == "" and "FT_ADMIN_API_KEY is unset" in key.source

    def test_the_api_address_follows_make_dev_settings(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        _clean_env(monkeypatch, tmp_path)
        assert default_api_url() == "http://127.0.0.1:8000"
        monkeypatch.setenv("FT_API_PORT", "8100")
        assert default_api_url() == "http://127.0.0.1:8100"
        monkeypatch.setenv("FT_API_URL", "http://api.example.test/")
        assert default_api_url() == "http://api.example.test"


class TestAgainstTheApi:
    def test_the_data_directorys_key_is_used(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              served: str) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text(ADMIN_KEY)
        monkeypatch.setenv("FT_API_URL", served)
        result = runner.invoke(cli.app, ["definitions", "preview", "welcome_sequence",
                                         "--contact", '{"name": "Anna", "email": "anna@example.test"}'])
        assert result.exit_code == 0, result.output

    def test_a_refused_key_names_its_source_and_the_fix(self, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path, served: str) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text("stale-key-from-an-old-run")
        monkeypatch.setenv("FT_API_URL", served)
        result = runner.invoke(cli.app, ["definitions", "preview", "welcome_sequence",
                                         "--contact", '{"name": "Anna"}'])
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"The API refused the key (The API key is not valid.). The key came from "
            f"{tmp_path / 'admin_api_key'}. Set FT_ADMIN_API_KEY (or --api-key) to an API key, or run "
            f"the command where `make dev` keeps its admin_api_key (FT_DATA_DIR, default .followthrough/).")


class TestValidateAgainstTheApi:
    """`definitions validate` knows the templates stored through the API, not only the files."""

    @pytest.fixture
    def api_only(self, served: str) -> str:
        """An SMS template that exists only through the API (no file under templates/)."""
        answer = httpx.put(f"{served}/v1/templates/sms/api_only_nudge/en", json={"text": "Hi {{ contact.name }}"},
                           headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert answer.status_code == 201, answer.text
        return served

    @staticmethod
    def definition(folder: Path) -> Path:
        path = folder / "nudge.yaml"
        path.write_text(yaml.safe_dump({"name": "nudge", "kind": "sequence", "locales": ["en"], "steps": [
            {"id": "nudge", "type": "send", "channel": "sms", "template": "api_only_nudge"},
            {"id": "welcome", "type": "send", "channel": "email", "template": "welcome"},
        ]}), encoding="utf-8")
        return path

    def test_a_template_stored_through_the_api_counts(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       api_only: str) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text(ADMIN_KEY)  # as `make dev` leaves it
        monkeypatch.setenv("FT_API_URL", api_only)
        path = self.definition(tmp_path)
        result = runner.invoke(cli.app, ["definitions", "validate", str(path)])
        assert (result.exit_code, result.stderr) == (0, "")
        assert result.stdout.splitlines() == [f"{path}: ok (nudge, 2 steps)"]

    def test_the_api_template_gets_the_sms_length_check(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                        served: str) -> None:
        _clean_env(monkeypatch, tmp_path)
        monkeypatch.setenv("FT_API_URL", served)
        long = httpx.put(f"{served}/v1/templates/sms/api_only_nudge/en", json={"text": "x" * 600},
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert long.status_code == 201
        result = runner.invoke(cli.app, ["definitions", "validate", "--api-key", ADMIN_KEY,
                                         str(self.definition(tmp_path))])
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines()[1:] == [
            "  /steps/0/template: SMS 'api_only_nudge' (en) is 4 segments, over the limit of 3"]

    def test_no_api_answering_falls_back_to_the_files_in_one_line(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api_only: str
    ) -> None:
        _clean_env(monkeypatch, tmp_path)
        (tmp_path / "admin_api_key").write_text(ADMIN_KEY)
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
        monkeypatch.setenv("FT_API_URL", closed)
        path = self.definition(tmp_path)
        result = runner.invoke(cli.app, ["definitions", "validate", str(path)])
        assert result.exit_code == 1
        lines = result.stderr.splitlines()
        assert lines[0].startswith(f"templates: the API at {closed} is not answering (")
        assert lines[0].endswith(f"); checking the files under {PROJECT_ROOT / 'templates'} only")
        assert lines[1:] == [f"{path}: 1 error(s)",
                             "  /steps/0/template: no sms template 'api_only_nudge' for locale 'en'"]
