"""`followthrough enroll NAME --file contacts.csv` against the live app (API + worker on the dev
server, reached through Starlette's TestClient in place of the HTTP client), and bad files."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import cli
import cli_enroll
from tests.conftest import ADMIN_KEY, LiveStack
from tests.support.factories import create_contact, enroll, save_definition, welcome_definition

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, ["enroll", *args])
    return result.exit_code, result.stdout, result.stderr


def csv_file(folder: Path, text: str, name: str = "contacts.csv") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_of(out: str, width: int) -> list[list[str]]:
    """The body rows of the tables printed, as cells, for tables of ``width`` columns."""
    rows = []
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.strip().startswith("│") and len(cells) == width:
            rows.append(cells)
    return rows


@pytest.fixture
def through_live(live: LiveStack, monkeypatch: pytest.MonkeyPatch) -> LiveStack:
    from api.app import create_app

    app = create_app(live.settings, engine=live.engine, temporal_client=live.temporal)

    def client(base_url: str, api_key: str) -> httpx.Client:
        assert base_url == "http://api.test:8000"
        return TestClient(app, base_url=base_url, headers={"Authorization": f"Bearer {api_key}"})

    monkeypatch.setattr(cli_enroll, "api_client", client)
    monkeypatch.setenv("FT_API_URL", "http://api.test:8000")
    monkeypatch.setenv("FT_ADMIN_API_KEY", ADMIN_KEY)
    return live


class TestEnrollFile:
    async def test_enrolls_the_file_reports_failures_and_is_idempotent(
        self, through_live: LiveStack, tmp_path: Path
    ) -> None:
        live = through_live
        await save_definition(live.api, welcome_definition("cli_batch", wait="PT1H"))
        anna = await create_contact(live.api, email="anna.cli@example.test")
        bob = await create_contact(live.api, email="bob.cli@example.test", external_id="crm-7")
        cleo = await create_contact(live.api, email="cleo.cli@example.test")
        running = (await enroll(live.api, "cli_batch", cleo["id"])).json()
        path = csv_file(tmp_path, "contact_id,external_id,plan\n"
                                  f"{anna['id']},,pro\n,crm-7,\n999999,,basic\n{cleo['id']},,\n")

        code, out, err = await asyncio.to_thread(
            invoke, "cli_batch", "--file", str(path), "--data", "campaign=spring", "--batch-size", "2")

        assert code == 1, err
        assert rows_of(out, 5) == [["4", "999999", "404", "not_found", "contact 999999 does not exist"]]
        assert rows_of(out, 4) == [["2", "1", "1", "4"]]
        assert "4/4" in err  # the progress bar reached the end
        runs = (await live.api.get("/v1/runs", params={"contact_id": anna["id"]})).json()["items"]
        assert [r["data"] for r in runs] == [{"campaign": "spring", "plan": "pro"}]
        runs = (await live.api.get("/v1/runs", params={"contact_id": bob["id"]})).json()["items"]
        assert [r["data"] for r in runs] == [{"campaign": "spring"}]
        runs = (await live.api.get("/v1/runs", params={"contact_id": cleo["id"]})).json()["items"]
        assert [r["run_id"] for r in runs] == [running["run_id"]]

        good = csv_file(tmp_path, f"contact_id,external_id\n{anna['id']},\n,crm-7\n", "good.csv")
        code, out, err = await asyncio.to_thread(invoke, "cli_batch", "--file", str(good))

        assert code == 0, err
        assert rows_of(out, 4) == [["0", "2", "0", "2"]]

    async def test_an_unknown_sequence_is_one_clear_line(self, through_live: LiveStack, tmp_path: Path) -> None:
        path = csv_file(tmp_path, "contact_id\n1\n")
        code, _, err = await asyncio.to_thread(invoke, "no_such_sequence", "--file", str(path))
        assert code == 1
        assert "no_such_sequence: HTTP 404: sequence 'no_such_sequence' does not exist" in err
        assert "Traceback" not in err


class TestBadInput:
    @pytest.mark.parametrize(("text", "expected"), [
        ("email,plan\na@example.test,pro\n", ["{path}: no contact_id or external_id column (columns: email, plan)"]),
        ("", ["{path}: empty file; the first line names the columns, one of them contact_id or external_id"]),
        ("contact_id\n", ["{path}: no contacts, only the header"]),
        ("contact_id,plan\nabc,pro\n0,pro\n12,pro,extra\n", [
            "{path}:2: contact_id 'abc' is not a contact id (a whole number from 1)",
            "{path}:3: contact_id '0' is not a contact id (a whole number from 1)",
            "{path}:4: 3 cells, the header has 2",
        ]),
        ("contact_id,external_id,plan\n1,crm-1,\n,,\n,,pro\n", [
            "{path}:2: give exactly one of contact_id and external_id",
            "{path}:4: give exactly one of contact_id and external_id",
        ]),
        ("contact_id,plan,plan\n1,a,b\n", ["{path}: column 'plan' appears twice"]),
    ])
    def test_bad_files_are_named_line_by_line(self, tmp_path: Path, text: str, expected: list[str]) -> None:
        path = csv_file(tmp_path, text)
        code, out, err = invoke("welcome_sequence", "--file", str(path))
        assert code == 2
        assert err.splitlines() == [line.format(path=path) for line in expected]
        assert out == ""

    def test_a_missing_file_and_bad_shared_data(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.csv"
        code, _, err = invoke("welcome_sequence", "--file", str(missing))
        assert (code, err.splitlines()) == (2, [f"{missing}: No such file or directory"])
        path = csv_file(tmp_path, "contact_id\n1\n")
        code, _, err = invoke("welcome_sequence", "--file", str(path), "--data", "campaign")
        assert (code, err.splitlines()) == (2, ["--data 'campaign' is not key=value"])

    def test_a_file_that_is_not_text(self, tmp_path: Path) -> None:
        path = tmp_path / "contacts.csv"
        path.write_bytes(b"\xff\xfe\x00contact_id\n")
        code, _, err = invoke("welcome_sequence", "--file", str(path))
        assert code == 2 and err.startswith(f"{path}: not a UTF-8 CSV file")

    def test_api_down_is_a_readable_error(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        monkeypatch.setenv("FT_API_URL", f"http://127.0.0.1:{port}")
        path = csv_file(tmp_path, "contact_id\n1\n")
        code, _, err = invoke("welcome_sequence", "--file", str(path))
        assert code == 2
        assert f"cannot reach the API at http://127.0.0.1:{port}" in err and "Traceback" not in err


class TestOddAnswers:
    @pytest.mark.parametrize(("body", "expected"), [
        ("<html>a proxy page</html>\n", "the API's answer is not one JSON object a line: '<html>a proxy page</html>'"),
        ('{"index": 5, "outcome": "created"}\n', "the API's answer has a line this batch cannot have"),
    ])
    def test_an_answer_that_is_not_the_batch_stream_is_one_clear_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: str
    ) -> None:
        from fastapi import FastAPI
        from fastapi.responses import PlainTextResponse

        odd = FastAPI()

        @odd.post("/v1/sequences/{name}/enrollments/batch")
        def answer(name: str) -> PlainTextResponse:
            return PlainTextResponse(body)

        monkeypatch.setattr(cli_enroll, "api_client", lambda url, key: TestClient(odd, base_url=url))
        path = csv_file(tmp_path, "contact_id\n1\n")
        code, _, err = invoke("welcome_sequence", "--file", str(path))
        assert code == 1
        assert expected in err and "Traceback" not in err
