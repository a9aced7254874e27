"""The worker as a real process (`cli.py worker`), for crash and shutdown tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from followthrough.settings import PROJECT_ROOT, Settings


def worker_env(settings: Settings, client: Client) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FT_")}
    env.update({
        "FT_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "FT_DATABASE_URL": settings.resolved_database_url,
        # No FT_ADMIN_API_KEY: the worker never checks API keys, so it must start without one.
        "FT_SECRET_KEY": settings.secret_key,
        "FT_PAYLOAD_KEYS": settings.payload_keys,
        "FT_DATA_DIR": str(settings.data_dir),
        "FT_TASK_QUEUE": settings.task_queue,
        "FT_SMTP_HOST": settings.smtp_host,
        "FT_SMTP_PORT": str(settings.smtp_port),
        "FT_SMTP_STARTTLS": settings.smtp_starttls,
        "FT_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "FT_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "FT_TWILIO_API_BASE": settings.twilio_api_base,
        "FT_PUBLIC_BASE_URL": settings.public_base_url,
        "FT_LOG_LEVEL": "WARNING",
    })
    return env


def start_worker(settings: Settings, client: Client, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "cli.py"), "worker"],
        env=worker_env(settings, client), stdout=handle, stderr=subprocess.STDOUT,
    )
