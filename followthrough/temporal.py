"""Temporal wiring shared by the worker, the API and the CLI: client, converter, search attributes."""

from __future__ import annotations

import logging
from functools import cache

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from followthrough.codec import encrypting_converter
from followthrough.errors import ValidationFailed
from followthrough.settings import Settings

CONTACT_ID = SearchAttributeKey.for_keyword("FtContactId")
RUN_KIND = SearchAttributeKey.for_keyword("FtRunKind")
DEFINITION = SearchAttributeKey.for_keyword("FtDefinition")
RUN_ID = SearchAttributeKey.for_keyword("FtRunId")

#: Search attributes are not encrypted (the codec sees payloads only): they carry ids and
#: names of our own vocabulary, never a person's data.
SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (CONTACT_ID, RUN_KIND, DEFINITION, RUN_ID)


def data_converter(settings: Settings) -> DataConverter:
    """The one converter of every client, worker and replayer: pydantic payloads encrypted with
    FT_PAYLOAD_KEYS (raises MissingSecret when none is set)."""
    return encrypting_converter(settings.payload_key_bytes)


class PayloadTooLarge(ValidationFailed):
    """Temporal refused a request because of its size: the caller's input is too large."""

    code = "payload_too_large"


def refused_for_size(exc: BaseException) -> bool:
    """Whether Temporal refused a request for its size: the server's blob size limit
    (``limit.blobSize.error``, 2 MB by default: INVALID_ARGUMENT "Blob data size exceeds
    limit.") or gRPC's message size limit (4 MB: RESOURCE_EXHAUSTED). Such a request was not
    carried out, and retrying it cannot help."""
    if not isinstance(exc, RPCError):
        return False
    message = exc.message.lower()
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return "size exceeds limit" in message
    return exc.status == RPCStatusCode.RESOURCE_EXHAUSTED and "larger than max" in message


def search_attribute_flags() -> list[str]:
    """``temporal server start-dev`` arguments that register our search attributes."""
    flags: list[str] = []
    for key in SEARCH_ATTRIBUTES:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags


#: Finer buckets (ms) than the SDK's default (50, 100, 500, ...) for the latency a workflow
#: task's code takes: its p99 should stay well under 100 ms.
_TASK_BUCKETS = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0]


#: The Python logger Temporal's core (Rust) logs are forwarded to.
CORE_LOGGER = "temporalio.core"


def core_logging(log_level: str) -> LoggingConfig:
    """The core's logs forwarded to the ``temporalio.core`` Python logger, so they come out in
    the process's one format (followthrough/logging.py) instead of the core's own coloured
    console lines. The core says WARN and up (its INFO is per-poller chatter), everything at
    FT_LOG_LEVEL=DEBUG."""
    level = log_level.upper()
    core = "DEBUG" if level == "DEBUG" else "ERROR" if level in ("ERROR", "CRITICAL") else "WARN"
    return LoggingConfig(filter=TelemetryFilter(core_level=core, other_level="ERROR"),
                         forwarding=LogForwardingConfig(
                             logger=logging.getLogger(CORE_LOGGER), append_target_to_name=False,
                             prepend_target_on_message=False, append_log_fields_to_message=False))


@cache
def process_runtime(log_level: str = "INFO", metrics_bind: str = "") -> Runtime:
    """The process's Temporal runtime (one per process: each has its own threads): the core's
    logs forwarded to ours and, when ``metrics_bind`` is set, the SDK's metrics for Prometheus
    at ``http://<metrics_bind>/metrics``."""
    metrics = None
    if metrics_bind:
        buckets = {"temporal_workflow_task_execution_latency": _TASK_BUCKETS}
        metrics = PrometheusConfig(bind_address=metrics_bind, histogram_bucket_overrides=buckets)
    return Runtime(telemetry=TelemetryConfig(logging=core_logging(log_level), metrics=metrics))


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client for the configured Temporal, with our data converter, on ``runtime`` (default:
    :func:`process_runtime` at FT_LOG_LEVEL, no metrics)."""
    converter = data_converter(settings)  # before the network: a missing key fails fast
    tls: bool | TLSConfig = settings.temporal_tls
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        tls = TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
        )
    return await Client.connect(
        settings.resolved_temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=converter,
        tls=tls,
        api_key=settings.temporal_api_key or None,
        runtime=runtime or process_runtime(settings.log_level),
    )


async def missing_search_attributes(client: Client, namespace: str) -> list[str]:
    """Names of our search attributes the namespace does not have."""
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    known = set(response.custom_attributes) | set(response.system_attributes)
    return [key.name for key in SEARCH_ATTRIBUTES if key.name not in known]


async def register_search_attributes(
    client: Client, namespace: str, names: list[str] | None = None
) -> list[str]:
    """Create the missing search attributes (Keyword), or ``names``; returns what it asked for."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    missing = names if names is not None else await missing_search_attributes(client, namespace)
    if missing:
        keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace, search_attributes={name: keyword for name in missing}
            )
        )
    return missing
