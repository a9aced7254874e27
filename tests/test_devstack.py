"""`followthrough dev` on a fresh data directory: starts everything, answers, stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from followthrough.settings import PROJECT_ROOT


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "followthrough dev exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not healthy after {seconds} s")


class TestDev:
    def test_starts_everything_answers_and_stops_cleanly_on_sigint(self, tmp_path: Path) -> None:
        api, temporal, ui, smtp, twilio = _free_ports(5)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FT_")}
        env.update(FT_DATA_DIR=str(tmp_path / "data"), FT_API_PORT=str(api), FT_TEMPORAL_PORT=str(temporal),
                   FT_TEMPORAL_UI_PORT=str(ui), FT_OUTBOX_SMTP_PORT=str(smtp), FT_OUTBOX_TWILIO_PORT=str(twilio))
        log = (tmp_path / "dev.log").open("wb")
        errors = (tmp_path / "dev.err").open("wb")  # a file: every log line of every process is JSON
        process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "cli.py"), "dev"], env=env,
                                   stdout=log, stderr=errors, start_new_session=True)
        try:
            health = _wait_healthy(f"http://127.0.0.1:{api}/healthz", process, 90)
            assert health.json() == {"status": "ok", "database": "ok", "temporal": "ok"}
            key_file = tmp_path / "data" / "admin_api_key"
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
            key = key_file.read_text().strip()
            headers = {"Authorization": f"Bearer {key}"}
            contact = httpx.post(f"http://127.0.0.1:{api}/v1/contacts", headers=headers,
                                 json={"name": "Dev", "email": "dev@example.test"})
            assert contact.status_code == 201
            enrolled = httpx.post(f"http://127.0.0.1:{api}/v1/sequences/welcome_sequence/enrollments",
                                  headers=headers, json={"contact_id": contact.json()["id"]})
            assert enrolled.status_code == 201

            def outbox() -> list:
                return httpx.get(f"http://127.0.0.1:{api}/v1/outbox", headers=headers).json()["items"]

            deadline = time.monotonic() + 30
            while not outbox() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert [(c["channel"], c["to"]) for c in outbox()] == [("email", "dev@example.test")]
            assert httpx.get(f"http://127.0.0.1:{ui}/", timeout=5).status_code == 200

            # A worker that dies is restarted, and work goes on.
            os.kill(_child(process.pid, "worker"), signal.SIGKILL)
            second = httpx.post(f"http://127.0.0.1:{api}/v1/contacts", headers=headers,
                                json={"name": "Again", "email": "again@example.test"}).json()
            httpx.post(f"http://127.0.0.1:{api}/v1/sequences/welcome_sequence/enrollments",
                       headers=headers, json={"contact_id": second["id"]})
            deadline = time.monotonic() + 30
            while len(outbox()) < 2 and time.monotonic() < deadline:
                time.sleep(0.3)
            assert sorted(c["to"] for c in outbox()) == ["again@example.test", "dev@example.test"]

            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=45) == 0
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
            errors.close()
        output = (tmp_path / "dev.log").read_text()
        assert "Admin key    " + key in output
        # stderr off a terminal: the supervisor's, the worker's and the API's lines (uvicorn's,
        # Temporal's and Alembic's too) are JSON lines, with no colour codes.
        err_text = (tmp_path / "dev.err").read_text()
        assert "\x1b[" not in err_text
        records = [json.loads(line) for line in err_text.splitlines()]
        assert {"dev", "worker", "uvicorn.error", "uvicorn.access"} <= {r["logger"] for r in records}
        said = [r["event"] for r in records if r["logger"] == "dev"]
        assert said[-1] == "stopped" and "worker exited with -9; restarting in 1 s" in said
        assert all(_port_closed(p) for p in (api, temporal, smtp, twilio))
        _assert_private(tmp_path / "data")
        # The Temporal server's own storage holds the runs' histories, encrypted: the addresses
        # the runs sent to (in the contact snapshot and the enrollment) appear nowhere in it.
        stored = b"".join(f.read_bytes() for f in (tmp_path / "data").glob("temporal.sqlite3*"))
        assert b"welcome_sequence" in stored  # the workflow ids are there, in the clear
        assert b"dev@example.test" not in stored and b"again@example.test" not in stored


def _assert_private(data: Path) -> None:
    """The data directory is 0700 and every file in it 0600: the databases (and their WAL
    files), the outbox captures, the generated keys, the Temporal server's database and log."""
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in data.iterdir() if f.is_file()}
    expected = {"admin_api_key", "secret_key", "payload_key", "twilio_outbox.json", "followthrough.sqlite3",
                "temporal.sqlite3", "temporal.log", "outbox.jsonl"}
    assert expected <= set(modes), sorted(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def _child(parent: int, command: str) -> int:
    """The pid of the dev supervisor's child running `cli.py <command>`."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat_fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat_fields[1]) == parent and command.encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no '{command}' child of {parent}")


def _port_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0
