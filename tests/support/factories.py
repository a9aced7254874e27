"""Build test data through the API, the way a client would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from followthrough.settings import PROJECT_ROOT


async def create_contact(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Anna Test", "email": "anna@example.test", "phone": "+15555550101",
            "locale": "en", "time_zone": "Europe/Budapest", **fields}
    response = await api.post("/v1/contacts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def welcome_definition(name: str, *, wait: str = "PT1S", **overrides: Any) -> dict[str, Any]:
    """The built-in example sequence with its waits scaled down."""
    path = Path(PROJECT_ROOT) / "definitions" / "welcome_sequence.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["name"] = name
    for step in document["steps"]:
        if step["type"] == "wait":
            step["duration"] = wait
    document.update(overrides)
    return document


async def save_definition(
    api: httpx.AsyncClient, document: dict[str, Any], *, publish: bool = True
) -> dict[str, Any]:
    """Save a version and (by default) publish it, so enrollments use it."""
    response = await api.post("/v1/definitions", json=document)
    assert response.status_code in (200, 201), response.text
    saved = response.json()
    if publish and not saved["active"]:
        published = await api.post(f"/v1/definitions/{saved['name']}/publish",
                                   json={"version": saved["version"]})
        assert published.status_code == 200, published.text
        saved = {**published.json(), "created": saved["created"], "warnings": saved["warnings"]}
    return saved


async def enroll(api: httpx.AsyncClient, name: str, contact_id: int, **data: Any) -> httpx.Response:
    return await api.post(f"/v1/sequences/{name}/enrollments", json={"contact_id": contact_id, "data": data})
