"""How the CLI's API commands find the API and a key, and what they say when the key is refused.

The key comes from ``--api-key`` / ``FT_ADMIN_API_KEY``, else from the admin key ``make dev``
keeps in the data directory (``FT_DATA_DIR/admin_api_key``). The URL comes from ``--api-url`` /
``FT_API_URL``, else from ``FT_API_HOST`` and ``FT_API_PORT``, as ``make dev`` serves it. A 401
names the key's source and how to set one, instead of a bare "HTTP 401".
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from followthrough.dsl.checks import References
    from followthrough.rendering import TemplateParts

KEY_FILE = "admin_api_key"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # where it came from, for messages


def default_api_url() -> str:
    """FT_API_URL, else the address ``make dev`` serves on (FT_API_HOST, FT_API_PORT)."""
    if url := os.environ.get("FT_API_URL"):
        return url.rstrip("/")
    host = os.environ.get("FT_API_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get('FT_API_PORT', '8000')}"


def key_file() -> Path:
    return Path(os.environ.get("FT_DATA_DIR", ".followthrough")) / KEY_FILE


def resolve_key(given: str) -> ApiKey:
    """The key given (--api-key or FT_ADMIN_API_KEY), else the one in the data directory."""
    if given:
        return ApiKey(given, "--api-key / FT_ADMIN_API_KEY")
    path = key_file()
    try:
        return ApiKey(path.read_text(encoding="utf-8").strip(), str(path))
    except OSError:
        return ApiKey("", f"no key: FT_ADMIN_API_KEY is unset and {path} does not exist")


def refused_message(key: ApiKey, detail: str) -> str:
    return (f"The API refused the key ({detail or 'HTTP 401'}). The key came from {key.source}. "
            f"Set FT_ADMIN_API_KEY (or --api-key) to an API key, or run the command where `make dev` "
            f"keeps its {KEY_FILE} (FT_DATA_DIR, default .followthrough/).")


def connect(base_url: str, given_key: str, **client_options: Any) -> httpx.Client:
    """An HTTP client for the API with the resolved key. A 401 ends the command (exit 2) with
    where the key came from and how to set one, whichever command got it."""
    import httpx
    import typer

    key = resolve_key(given_key)

    def refused(response: httpx.Response) -> None:
        if response.status_code == 401:
            response.read()
            is_json = response.headers.get("content-type", "").endswith("json")
            typer.echo(refused_message(key, (response.json().get("detail") if is_json else "") or ""),
                       err=True)
            raise typer.Exit(2)

    headers = {"Authorization": f"Bearer {key.value}"} if key.value else {}
    return httpx.Client(base_url=base_url, headers=headers,
                        event_hooks={"response": [refused]}, **client_options)


def api_configured(api_url: str, given_key: str) -> bool:
    """Whether the user pointed the CLI at an API: a URL, a key, or the key `make dev` wrote."""
    return bool(api_url or os.environ.get("FT_API_URL") or resolve_key(given_key).value)


def pages(client: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
    """Every item of a listing, page by page; an answer other than 200 raises
    ``httpx.HTTPStatusError``."""
    params: dict[str, str | int] = {"limit": 200}
    while True:
        page = client.get(path, params=params).raise_for_status().json()
        yield from page["items"]
        if not page.get("next_cursor"):
            return
        params["cursor"] = page["next_cursor"]


def api_references(client: httpx.Client) -> References:
    """What a policy refers to, as the API knows it: every definition's kind, and for an admin
    key every team (with its member count) and user. Another key sees only some teams and no
    user list (``GET /v1/users`` is a 403), so those are left unchecked rather than reported
    missing."""
    import httpx

    from followthrough.dsl.checks import References

    kinds = {d["name"]: d["kind"] for d in pages(client, "/v1/definitions")}
    try:
        users = {u["id"] for u in pages(client, "/v1/users")}
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code != 403:
            raise
        return References(definitions=kinds)
    teams = {t["name"]: len(t["members"]) for t in pages(client, "/v1/teams")}
    return References(teams=teams, definitions=kinds, users=users)


class ApiTemplateSource:
    """The templates stored through the API, as a template source: their names listed once
    (``GET /v1/templates``), their parts fetched only when asked (the SMS length check)."""

    def __init__(self, client: httpx.Client, stored: set[tuple[str, str, str]]) -> None:
        self.client = client
        self.stored = stored

    @classmethod
    def load(cls, client: httpx.Client) -> ApiTemplateSource:
        """Every stored template's channel, name and locale, page by page; an answer other
        than 200 raises ``httpx.HTTPStatusError``."""
        return cls(client, {(t["channel"], t["name"], t["locale"]) for t in pages(client, "/v1/templates")})

    def get(self, channel: str, name: str, locale: str) -> TemplateParts | None:
        from followthrough.rendering import TemplateParts

        if (str(channel), name, locale) not in self.stored:
            return None
        response = self.client.get(f"/v1/templates/{channel}/{name}/{locale}")
        if response.status_code != 200:
            return None
        found = response.json()
        return TemplateParts(subject=found["subject"], text=found["text"], html=found["html"])

    def locales(self, channel: str, name: str) -> list[str]:
        return sorted(loc for c, n, loc in self.stored if (c, n) == (str(channel), name))
