"""HTTP plumbing of the outbox Twilio server: a threaded form-POST server around one app."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any], dict[str, str]]  # HTTP status, JSON body, extra headers


class OutboxApp:
    """What the server calls; OutboxTwilioServer implements it."""

    def handle(
        self, path: str, authorization: str, form: dict[str, str], headers: dict[str, str]
    ) -> Answer:
        raise NotImplementedError

    def after_success(self, body: dict[str, Any], form: dict[str, str]) -> None:
        """Called once a 201 answer has been written."""

    def not_found(self) -> Answer:
        return 404, {"message": "Not Found", "status": 404}, {}


class FormServer(ThreadingHTTPServer):
    """Tracks open connections so stop() can close kept-alive ones: a stopped outbox must look
    down to a pooled client (connection refused), not keep answering from a leftover thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: OutboxApp) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class _Handler(BaseHTTPRequestHandler):
    server: FormServer
    protocol_version = "HTTP/1.1"  # keep-alive, like Twilio; the SDK pools connections

    def do_POST(self) -> None:  # http.server's hook name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8")
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        # Never store the credential.
        headers = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        status, body, extra = self.server.app.handle(
            self.path.split("?")[0], self.headers.get("Authorization", ""), form, headers
        )
        if self._send(status, body, extra) and status == 201:
            self.server.app.after_success(body, form)

    def do_GET(self) -> None:
        self._send(*self.server.app.not_found())

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> bool:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a read-timeout test): nothing to answer to.
            log.debug("outbox http client went away before the answer")
            return False
        return True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("outbox http: " + format, *args)
