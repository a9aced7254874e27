"""Configuration from ``FT_``-prefixed environment variables, validated at start and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Twilio voices per language (Amazon Polly voices Twilio offers for <Say>).
DEFAULT_VOICES: dict[str, str] = {
    "en": "Polly.Joanna",
    "ru": "Polly.Tatyana",
    "hu": "Google.hu-HU-Standard-A",
}


class Settings(BaseSettings):
    """Every knob of the service. Build one per process; never a global."""

    model_config = SettingsConfigDict(env_prefix="FT_", extra="ignore")

    data_dir: Path = Path(".followthrough")
    database_url: str = ""  # empty: SQLite file under data_dir
    admin_api_key: str = ""
    secret_key: str = ""  # signs unsubscribe links; `dev` generates one; empty: derived from the admin key

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

    smtp_host: str = ""  # empty: start the dev outbox SMTP server
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: Literal["auto", "true", "false"] = "auto"
    smtp_tls: bool = False
    smtp_timeout: float = 30.0
    mail_from: str = "Followthrough <noreply@followthrough.example.test>"

    twilio_account_sid: str = ""  # empty: start the dev outbox Twilio-compatible server
    twilio_auth_token: str = ""
    twilio_from: str = "+15550000000"
    twilio_api_base: str = ""  # replaces https://api.twilio.com (scheme, host, port)
    twilio_timeout: float = 30.0

    public_base_url: str = "http://127.0.0.1:8000"

    outbox: bool = False  # set by `followthrough dev`: the API serves the dev outbox captures
    outbox_smtp_port: int = 8025
    outbox_twilio_port: int = 8026
    inbound_smtp_port: int | None = None  # set: the API also receives replies over SMTP here

    default_locale: str = "en"
    default_time_zone: str = "UTC"
    voices: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_VOICES))

    templates_dir: Path = PROJECT_ROOT / "templates"
    definitions_dir: Path = PROJECT_ROOT / "definitions"
    calendars_dir: Path = PROJECT_ROOT / "calendars"

    log_level: str = "INFO"

    @field_validator("public_base_url", "twilio_api_base")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

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
    def signing_key(self) -> str:
        """The key for signed links: FT_SECRET_KEY, else one derived from the admin key."""
        if self.secret_key:
            return self.secret_key
        import hashlib

        return hashlib.sha256(b"followthrough-links:" + self.admin_api_key.encode()).hexdigest()

    def voice_for(self, locale: str) -> str:
        language = locale.split("-")[0].lower()
        return self.voices.get(language) or self.voices.get("en", "alice")
