"""The baseline: the same three steps (email, 1 s durable sleep, SMS) as a bare Temporal workflow.

Two activities send straight through aiosmtplib and the Twilio SDK: no ledger, no database, no
templates, no bookkeeping activities, no search attributes. It is what the engine costs above
"Temporal plus the two provider clients". Run as its own worker process by ``bench.run``:

    python -m bench.baseline --address HOST:PORT --task-queue Q --smtp-port P \
        --twilio-base URL --twilio-sid AC... --twilio-token T
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from email.message import EmailMessage
    from email.utils import make_msgid

    import aiosmtplib
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client as TwilioClient

WORKFLOW_NAME = "BaselineWorkflow"
MAIL_FROM = "Followthrough <noreply@followthrough.example.test>"
SMS_FROM = "+15550000000"
#: The engine's delivery retry preset, so both sides would retry alike.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))


@dataclass
class BaselineInput:
    name: str
    email: str
    phone: str


@workflow.defn(name=WORKFLOW_NAME)
class BaselineWorkflow:
    @workflow.run
    async def run(self, input: BaselineInput) -> None:
        await workflow.execute_activity(
            "baseline_email", input, start_to_close_timeout=timedelta(minutes=2), retry_policy=RETRY
        )
        await workflow.sleep(timedelta(seconds=1))
        await workflow.execute_activity(
            "baseline_sms", input, start_to_close_timeout=timedelta(minutes=2), retry_policy=RETRY
        )


class _ApiBaseHttpClient(TwilioHttpClient):
    """Sends the SDK's requests to the outbox instead of https://api.twilio.com."""

    def __init__(self, api_base: str) -> None:
        super().__init__(timeout=30)
        self.api_base = api_base.rstrip("/")

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        url = url.replace("https://api.twilio.com", self.api_base, 1)
        return super().request(method, url, *args, **kwargs)


class BaselineActivities:
    """The same messages as the ``welcome`` / ``welcome_followup`` templates, as fixed text."""

    def __init__(self, smtp_port: int, twilio: TwilioClient) -> None:
        self._smtp_port = smtp_port
        self._twilio = twilio

    @activity.defn(name="baseline_email")
    async def email(self, input: BaselineInput) -> str:
        first = input.name.split()[0]
        text = (
            f"Hi {first},\n\nThank you for signing up with Followthrough. We're glad to have you "
            "with us.\n\nOver the next few days, one of our team will give you a call to help you "
            "get set up and to answer any questions you may have.\n\nIf anything comes up in the "
            "meantime, just reply to this email.\n\nBest regards,\nThe Followthrough team\n"
        )
        msg = EmailMessage()
        msg["From"] = MAIL_FROM
        msg["To"] = input.email
        msg["Subject"] = "Welcome to Followthrough"
        msg["Message-ID"] = make_msgid(domain="followthrough.example.test")
        msg.set_content(text)
        msg.add_alternative("<p>" + text.replace("\n\n", "</p><p>") + "</p>", subtype="html")
        await aiosmtplib.send(
            msg, hostname="127.0.0.1", port=self._smtp_port, start_tls=False, use_tls=False, timeout=30
        )
        return msg["Message-ID"]

    @activity.defn(name="baseline_sms")
    async def sms(self, input: BaselineInput) -> str:
        first = input.name.split()[0]
        body = (
            f"Hi {first}, thanks for signing up with Followthrough! We'll give you a quick call "
            "soon to help you get started."
        )
        created = await asyncio.to_thread(
            self._twilio.messages.create, to=input.phone, from_=SMS_FROM, body=body
        )
        return str(created.sid)


async def _serve(args: argparse.Namespace) -> None:
    from temporalio.client import Client
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
    from temporalio.worker import Worker

    from followthrough.temporal import _TASK_BUCKETS as TASK_BUCKETS

    # The same SDK metrics (and histogram buckets) as the Followthrough worker, so the workflow
    # task latency of both sides can be compared.
    runtime = None
    if args.metrics_bind:
        buckets = {"temporal_workflow_task_execution_latency": TASK_BUCKETS}
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
            bind_address=args.metrics_bind, histogram_bucket_overrides=buckets)))
    client = await Client.connect(args.address, runtime=runtime)
    twilio = TwilioClient(
        args.twilio_sid, args.twilio_token, http_client=_ApiBaseHttpClient(args.twilio_base),
        environment={"BENCH": "1"},  # not os.environ: TWILIO_REGION/EDGE would move the host
    )
    activities = BaselineActivities(args.smtp_port, twilio)
    worker = Worker(
        client, task_queue=args.task_queue, workflows=[BaselineWorkflow],
        activities=[activities.email, activities.sms],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--twilio-base", required=True)
    parser.add_argument("--twilio-sid", required=True)
    parser.add_argument("--twilio-token", required=True)
    parser.add_argument("--metrics-bind", default=None, help="serve SDK metrics (Prometheus) here")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
