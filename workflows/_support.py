"""Activity presets shared by the workflows (timeouts and retry policies in one place)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

#: Delivery: 1 s initial, x2, at most 5 min apart, given up after 24 h (the step is then
#: ``failed: gave_up``). Permanent channel errors are returned as results, not raised, so they
#: are never retried; a render error likewise. No maximum of attempts: a retry that finds an
#: earlier attempt still in flight (``AttemptInFlight``, its own short ``next_retry_delay``) must
#: be able to ask again until that attempt's deadline, well within the schedule-to-close.
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PermanentChannelError", "RenderError"],
)
#: Longer than the longest provider call (settings.PROVIDER_TIMEOUT_MAX) plus the door's
#: ATTEMPT_MARGIN, so an attempt's deadline always falls within it (tests/workflows/test_support.py).
DELIVERY_START_TO_CLOSE = timedelta(minutes=2)
#: The delivery activity heartbeats every 2 s during the provider call, and the worker sends them
#: at least every 3 s (worker.HEARTBEAT_THROTTLE): 30 s leaves a loaded worker's event loop over
#: 20 s of lag before Temporal retries a live attempt (a retry then finds the ``pending`` row
#: and waits for that attempt's outcome, so a late heartbeat costs time, never a duplicate).
DELIVERY_HEARTBEAT = timedelta(seconds=30)
DELIVERY_SCHEDULE_TO_CLOSE = timedelta(hours=24)

#: Bookkeeping on our own database (runs table): short, retried until the database answers.
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
BOOKKEEPING_START_TO_CLOSE = timedelta(seconds=30)

#: A ``start`` step enrolls the contact elsewhere (our database, then Temporal): an ordinary
#: activity, retried while either is unavailable; unknown or unpublished definitions are results.
START_RETRY = BOOKKEEPING_RETRY
START_TO_CLOSE = timedelta(minutes=1)
START_SCHEDULE_TO_CLOSE = timedelta(hours=1)
