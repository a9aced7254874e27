"""Record TicketWorkflow histories for the replay test (tests/workflows/test_entity_replay.py):
``uv run pytest tests/workflows/record_ticket.py`` runs four scenarios of test_ticket.py on the
time-skipping server with the production worker and writes each ticket's history to
histories/ticket/ (only where no file exists: a stored history stands for the code that
recorded it). Not collected by ``make test`` (the file name does not start with ``test_``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlmodel import select

from followthrough.store.db import session_scope
from followthrough.store.tables import Ticket
from tests.workflows import test_ticket
from tests.workflows.test_ticket import Env, env, ticket_ts  # noqa: F401  (the fixtures)

OUT = Path(__file__).parent / "histories" / "ticket"
#: History name -> (class, test) of test_ticket.py whose run is recorded. The classes are looked
#: up when recording, so that pytest does not collect them here a second time.
SCENARIOS: dict[str, tuple[str, str]] = {
    "ladder": ("TestClockAndLadder",
               "test_the_ladder_fires_at_the_exact_business_minute_across_a_holiday_and_a_weekend"),
    "paused_and_resumed": ("TestPauseAndResume",
                           "test_waiting_on_the_customer_pauses_and_their_reply_resumes_with_the_exact_budget"),
    "survey_reopens": ("TestResolution", "test_a_low_survey_score_by_sms_reopens_and_tells_the_manager"),
    "closed_by_silence": ("TestResolution", "test_a_customer_reply_after_resolution_reopens_and_silence_closes"),
    "complaint_hold": ("TestComplaintHold",
                       "test_a_sales_message_waits_while_a_complaint_is_open_and_goes_when_it_is_resolved"),
}


def _scenario(name: str) -> Callable[[Env], Awaitable[None]]:
    cls, method = SCENARIOS[name]
    return getattr(getattr(test_ticket, cls)(), method)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_record(name: str, env: Env) -> None:  # noqa: F811
    target = OUT / f"{name}.json"
    if target.exists():
        pytest.skip(f"{target.name} exists")
    await _scenario(name)(env)
    with session_scope(env.engine) as session:
        tickets = session.exec(select(Ticket).order_by(Ticket.id)).all()  # type: ignore[arg-type]
    # The scenario's last ticket (closed_by_silence: the one silence closed).
    history = await env.ts.client.get_workflow_handle(tickets[-1].workflow_id).fetch_history()
    OUT.mkdir(exist_ok=True)
    target.write_text(json.dumps(json.loads(history.to_json()), indent=2) + "\n", encoding="utf-8")
