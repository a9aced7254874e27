"""The bare side of ``bench.leads``: one workflow, one activity that sends the owner's email
straight through aiosmtplib (no database, no ledger, no scoring, no assignment). A module of its
own so the workflow sandbox validates it as small as it is."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from email.message import EmailMessage

    import aiosmtplib


@activity.defn(name="bare_notify")
async def bare_notify(args: list[int]) -> None:
    """``[lead number, SMTP port]``: the notification, as fixed text."""
    number, port = args
    message = EmailMessage()
    message["From"] = "Followthrough <noreply@followthrough.example.test>"
    message["To"] = "rep@bench.example"
    message["Subject"] = f"Bare lead {number}"
    message.set_content(f"A new lead is yours: Bench Lead {number}.")
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port, start_tls=False, use_tls=False, timeout=30)


@workflow.defn(name="BareNotifyWorkflow")
class BareNotifyWorkflow:
    @workflow.run
    async def run(self, args: list[int]) -> None:
        await workflow.execute_activity(bare_notify, args, start_to_close_timeout=timedelta(minutes=1))
