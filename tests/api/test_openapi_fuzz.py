"""Schemathesis against the app's own OpenAPI, in process: no 5xx, no undocumented status or
content type, no response that breaks its schema. Bounded and deterministic, so `make test`
runs it every time in well under a minute."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from tests.conftest import ADMIN_KEY, make_settings

#: A 503 is expected while Temporal is down (and must be documented: status_code_conformance);
#: any other 5xx fails.
CONFIG = SchemathesisConfig.from_dict({
    "headers": {"Authorization": f"Bearer {ADMIN_KEY}"},
    "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}},
    "generation": {"deterministic": True, "database": "none"},
})
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


def _app_schema() -> schemathesis.schemas.BaseSchema:
    """The dev app's shape: the dev outbox on, SQLite in a temporary directory (removed at exit),
    and Temporal unreachable (127.0.0.1:9), so routes that need it answer their documented 503.

    Built at import because schemathesis' fixture-based loader does not run under pytest 9
    (it writes ``Function._nodeid``); the app starts (migrations, seeds) on the first request."""
    app_settings = make_settings(Path(_DATA_DIR.name), outbox=True)
    app = create_app(app_settings)
    loaded = schemathesis.openapi.from_dict(app.openapi(), config=CONFIG)
    loaded.app = app
    return loaded


_DATA_DIR = tempfile.TemporaryDirectory(prefix="ft-openapi-fuzz-")
# Hypothesis caches what it reads in our sources under ./.hypothesis, from collection on (the
# schema below) to the last example: point it at the temporary directory until this module ends.
set_hypothesis_home_dir(Path(_DATA_DIR.name) / "hypothesis")
schema = _app_schema()


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_home_back() -> Iterator[None]:
    yield
    set_hypothesis_home_dir(None)  # the default again, for the modules that run after this one


@schema.parametrize()
# No shrinking: a failure is reported as found, so even a failing run stays bounded.
@settings(max_examples=10, derandomize=True, database=None, deadline=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
