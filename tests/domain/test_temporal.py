"""Temporal wiring: the worker's optional Prometheus metrics (FT_WORKER_METRICS_BIND)."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from bench.stack import free_port
from followthrough.settings import Settings
from followthrough.temporal import connect, process_runtime


async def test_metrics_runtime_serves_the_sdk_metrics(dev_env: WorkflowEnvironment, settings: Settings) -> None:
    bind = f"127.0.0.1:{free_port()}"
    address = dev_env.client.service_client.config.target_host
    client = await connect(settings.model_copy(update={"temporal_address": address}), process_runtime("INFO", bind))
    await client.count_workflows()
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{bind}/metrics")
    assert response.status_code == 200
    assert 'temporal_request{namespace="default",operation="CountWorkflowExecutions"' in response.text
