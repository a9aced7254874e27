"""Configuration from ``FT_``-prefixed environment variables, validated at start and passed in."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from followthrough.models.vocab import Scope

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The longest a provider call may take (seconds, the whole call). The delivery activity's
#: start-to-close timeout must exceed it plus the door's margin (tests/workflows/test_support.py).
PROVIDER_TIMEOUT_MAX = 60.0

#: Twilio voices per language (Amazon Polly voices Twilio offers for <Say>).
DEFAULT_VOICES: dict[str, str] = {
    "en": "Polly.Joanna",
    "ru": "Polly.Tatyana",
    "hu": "Google.hu-HU-Standard-A",
}


class MissingSecret(RuntimeError):
    """A secret the process needs is not configured (outside `followthrough dev`)."""

    HINTS = {
        "FT_ADMIN_API_KEY": "the admin's API key",
        "FT_SECRET_KEY": "signs unsubscribe and action links; e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))'`",
        "FT_PAYLOAD_KEYS": "encrypts Temporal payloads; base64 of 32 random bytes, e.g. "
                           "`python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`",
    }

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not set ({self.HINTS.get(name, 'required')}); "
                         "`followthrough dev` generates one for you")
        self.name = name


WorkerRole = Literal["all", "workflows", "activities"]
WORKER_ROLES: tuple[WorkerRole, ...] = get_args(WorkerRole)


class Settings(BaseSettings):
    """Every knob of the service. Build one per process; never a global."""

    model_config = SettingsConfigDict(env_prefix="FT_", extra="ignore")

    data_dir: Path = Path(".followthrough")
    database_url: str = ""  # empty: SQLite file under data_dir
    admin_api_key: str = ""
    #: Signs unsubscribe and one-click action links. Several keys, comma-separated, newest first: the first signs,
    #: all verify (rotation). Required by the API and the worker; `dev` generates one.
    secret_key: str = ""
    #: AES-256 keys (base64 of 32 bytes) of the Temporal payload codec, comma-separated, newest
    #: first: the first encrypts, all decrypt. Required to talk to Temporal; `dev` generates one.
    payload_keys: str = ""

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    temporal_address: str = ""  # empty: start the embedded dev server
    temporal_namespace: str = "default"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    temporal_tls: bool = False
    temporal_api_key: str = ""
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    task_queue: str = "followthrough"
    #: A run continues as new when Temporal suggests it; this also makes it do so once its
    #: history has this many events (unset: Temporal's suggestion only).
    workflow_history_limit: int | None = Field(default=None, ge=10)
    #: How often the worker looks for runs whose workflow task keeps failing (seconds).
    run_check_interval: float = Field(default=60.0, gt=0)
    #: ``host:port`` where the worker serves the Temporal SDK's metrics for Prometheus
    #: (``/metrics``: workflow task latencies, activity latencies, slots); empty: none.
    worker_metrics_bind: str = ""
    #: A worker process that has not recorded a liveness beat for this long (seconds) is taken
    #: as dead: a retry decides at once about the message it left ``pending``. It beats every
    #: tenth of it and cuts its own provider calls off at half of it without a beat (a process
    #: that cannot beat must not still be sending when another one calls its attempt over).
    worker_silence: float = Field(default=30.0, ge=5, le=PROVIDER_TIMEOUT_MAX)
    #: Runs the worker keeps in memory between their workflow tasks. An open task waits hours
    #: for its reminder; one evicted meanwhile is fetched and replayed when its timer fires,
    #: which makes the reminder late under load (bench/reminders.py): keep it above the number
    #: of open tasks and running sequences. A cached task costs about 35–70 KiB, a sequence more.
    worker_max_cached_workflows: int = Field(default=10_000, ge=0)
    #: What a worker process polls for: ``all`` (workflow tasks and activities), ``workflows``
    #: (workflow tasks and their local activities: the runs' bookkeeping) or ``activities``
    #: (deliveries and the other activities). One process of each role gives the workflow
    #: tasks an interpreter (and GIL) of their own: their latency no longer queues behind the
    #: deliveries' rendering and database work (issue 9). Any number of each may run.
    worker_role: WorkerRole = "all"

    smtp_host: str = ""  # empty: start the dev outbox SMTP server
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: Literal["auto", "true", "false"] = "auto"
    smtp_tls: bool = False
    #: The whole SMTP session of one message (connect to QUIT), not each reply's wait.
    smtp_timeout: float = Field(default=30.0, gt=0, le=PROVIDER_TIMEOUT_MAX)
    mail_from: str = "Followthrough <noreply@followthrough.example.test>"
    #: The sender's name contacts see in messages (templates read it as ``data.company``; SMS
    #: keyword answers too). A definition's ``brand`` and an enrollment's ``data.company``
    #: override it. Set it: the default is this project's name, not yours.
    brand_name: str = Field(default="Followthrough", min_length=1, max_length=100)

    twilio_account_sid: str = ""  # empty: start the dev outbox Twilio-compatible server
    twilio_auth_token: str = ""
    twilio_from: str = "+15550000000"
    twilio_api_base: str = ""  # replaces https://api.twilio.com (scheme, host, port)
    #: One Twilio API call, whole (the SDK's own timeout is per connect and per read).
    twilio_timeout: float = Field(default=30.0, gt=0, le=PROVIDER_TIMEOUT_MAX)

    public_base_url: str = "http://127.0.0.1:8000"
    #: How long a one-click action link in a message works (ISO 8601, e.g. ``P7D``, or seconds).
    action_link_max_age: timedelta = Field(default=timedelta(days=7), gt=timedelta(0))
    #: The daily brief's local time in each user's own zone, on their working days.
    brief_time: time = time(8, 30)

    outbox: bool = False  # set by `followthrough dev`: the API serves the dev outbox captures
    outbox_smtp_port: int = 8025
    outbox_twilio_port: int = 8026
    inbound_smtp_port: int | None = None  # set: the API also receives replies over SMTP here
    # True: every inbound email counts as verified (the relay in front of us already refuses mail
    # failing DKIM/SPF). False: only mail whose Authentication-Results pass for its From domain.
    inbound_trust_relay: bool = False
    #: Tickets: inbound mail to this address opens a ticket (empty: no mail does); a reply in a
    #: ticket's thread continues it whatever the address (followthrough/tickets/intake.py).
    support_email: str = Field(default="", max_length=320)
    #: Tickets: texts to this number open a ticket or continue the sender's open SMS ticket
    #: (empty: no text does).
    support_sms_number: str = Field(default="", max_length=32)

    #: Tasks: an unfinished task is overdue (and its owner reminded again) this long after its
    #: due time; its owner's manager is told this long after it, in one message per rep for
    #: every task reaching that threshold within one digest window.
    task_grace: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0))
    task_escalate_after: timedelta = Field(default=timedelta(hours=2), gt=timedelta(0))
    task_digest_window: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    #: Tickets: the SLA policy (a published ``sla_policy`` definition) new tickets pin.
    sla_policy: str = Field(default="support_sla", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    #: The lead policy (a published ``lead_policy`` definition) new leads are qualified by.
    lead_policy: str = Field(default="default_leads", pattern=r"^[a-z][a-z0-9_]{0,63}$")

    default_locale: str = "en"
    default_time_zone: str = "UTC"
    #: What reps and managers may see of contacts (and their runs, timelines, deliveries, holds,
    #: preferences): ``owned``, ``team`` (their teams' members' too) or ``all``. Admins see all.
    rep_scope: Scope = Scope.TEAM
    manager_scope: Scope = Scope.TEAM
    voices: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_VOICES))

    templates_dir: Path = PROJECT_ROOT / "templates"
    definitions_dir: Path = PROJECT_ROOT / "definitions"
    calendars_dir: Path = PROJECT_ROOT / "calendars"

    log_level: str = "INFO"

    # Bounded input (docs/security/limits.md).
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # a larger request body is a 413
    max_object_bytes: int = Field(default=16 * 1024, ge=256)  # attributes, enrollment and event data
    rate_limit_writes: str = "120/minute"  # POST/PUT/PATCH/DELETE per API key
    rate_limit_events: str = "30/minute"  # POST /v1/contacts/{id}/events per contact
    #: Where the rate-limit counters live (a `limits` storage URI). ``memory://`` counts per
    #: process: several API replicas each allow the full rate; share a Redis or Memcached
    #: (``redis://host:6379``) to count once for all of them.
    rate_limit_storage: str = "memory://"

    @field_validator("rate_limit_writes", "rate_limit_events")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit such as '120/minute': {exc}") from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        from limits.storage import SCHEMES

        scheme = value.split("://", 1)[0]
        if f"async+{scheme.removeprefix('async+')}" not in SCHEMES:
            raise ValueError(f"unknown rate-limit storage '{scheme}' (memory, redis, memcached, ...)")
        return value

    @field_validator("payload_keys")
    @classmethod
    def _check_payload_keys(cls, value: str) -> str:
        from followthrough.codec import parse_keys

        parse_keys(value)  # a PayloadKeyError (ValueError) names the bad key
        return value

    @field_validator("public_base_url", "twilio_api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def provider_timeout(self, channel: str) -> float:
        """The whole-call timeout of the provider behind ``channel`` (email, sms, voice)."""
        return self.smtp_timeout if channel == "email" else self.twilio_timeout

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'followthrough.sqlite3').resolve()}"

    @property
    def resolved_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def smtp_outbox(self) -> bool:
        """No SMTP server configured: the dev outbox captures email."""
        return not self.smtp_host

    @property
    def twilio_outbox(self) -> bool:
        """No Twilio account configured: the dev outbox captures SMS and calls."""
        return not self.twilio_account_sid

    @property
    def outbox_file(self) -> Path:
        return self.data_dir / "outbox.jsonl"

    @property
    def signing_keys(self) -> list[str]:
        """FT_SECRET_KEY as a list, newest first. Never derived from another secret: a leaked
        admin key must not also forge links, and rotating one must not break the other."""
        keys = [k.strip() for k in self.secret_key.split(",") if k.strip()]
        if not keys:
            raise MissingSecret("FT_SECRET_KEY")
        return keys

    @property
    def payload_key_bytes(self) -> list[bytes]:
        """FT_PAYLOAD_KEYS decoded, newest first."""
        from followthrough.codec import parse_keys

        keys = parse_keys(self.payload_keys)
        if not keys:
            raise MissingSecret("FT_PAYLOAD_KEYS")
        return keys

    def voice_for(self, locale: str) -> str:
        language = locale.split("-")[0].lower()
        return self.voices.get(language) or self.voices.get("en", "alice")
