"""The outbox capture file: append-only JSONL, one captured message per line."""

from __future__ import annotations

import builtins
import json
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from followthrough.private_files import private_file


def utc_now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Capture:
    """One message as the outbox received it (one per recipient)."""

    channel: str  # "email" | "sms" | "voice"
    to: str
    from_: str
    text: str = ""
    subject: str | None = None
    html: str | None = None
    message_id: str | None = None  # email: the Message-ID header
    sid: str | None = None  # sms/voice: the MessageSid / CallSid we answered with
    twiml: str | None = None  # voice: the TwiML as posted
    status_callback: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: email: each attachment as {"filename", "content_type" (with its parameters), "content"}.
    attachments: list[dict[str, str]] = field(default_factory=list)
    status: str = "accepted"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: str = field(default_factory=utc_now_rfc3339)

    def to_json(self) -> dict[str, Any]:
        """JSON object for the file; ``from_`` is written as ``from``."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Capture:
        data = dict(data)
        data["from_"] = data.pop("from", "")
        known = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in known})


class OutboxStore:
    """Append-only capture log. ``path=None`` keeps captures in memory (tests).

    Appends come from the servers' threads; one lock keeps lines whole and in order.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._memory: list[Capture] = []
        if self.path is not None:
            private_file(self.path)  # captures hold addresses and message text: 0600

    def append(self, capture: Capture) -> Capture:
        """Record one capture; returns it."""
        with self._lock:
            if self.path is None:
                self._memory.append(capture)
            else:
                line = json.dumps(capture.to_json(), ensure_ascii=False)
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
        return capture

    def list(
        self, channel: str | None = None, to: str | None = None, limit: int | None = 100
    ) -> builtins.list[Capture]:
        """Captures, newest first, filtered by channel and recipient."""
        with self._lock:
            captures = list(self._memory) if self.path is None else _read(self.path)
        matches = [
            c
            for c in reversed(captures)
            if (channel is None or c.channel == channel) and (to is None or c.to == to)
        ]
        return matches if limit is None else matches[:limit]

    def clear(self) -> None:
        """Forget every capture (truncates the file)."""
        with self._lock:
            self._memory.clear()
            if self.path is not None:
                self.path.write_text("", encoding="utf-8")


def _read(path: Path) -> list[Capture]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [Capture.from_json(json.loads(line)) for line in fh if line.strip()]
