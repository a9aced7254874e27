"""The delivery door's transactions on the ledger (synchronous; the activity runs them in a
thread). Each public method is one unit of work."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.door_content import Audience, audience, invitation
from activities.lead_touch import waiting_lead
from channels.base import (
    OutboundMessage,
    PermanentChannelError,
    SendReceipt,
    TransientChannelError,
)
from followthrough.liveness import Liveness
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import DeliverInput, DeliverResult, GiveUpInput, RunEnd, RunFinish
from followthrough.models.vocab import STEP_STATE_OF_LEDGER, Category, Channel, LedgerState
from followthrough.policy.contact_policy import (
    ContactPolicyState,
    Decision,
    MessageIntent,
    PolicyConfig,
    Verdict,
    decide,
)
from followthrough.policy.people_policy import (
    LEGACY_ADDRESS,
    address_of,
    channels_for,
    decide_for_user,
)
from followthrough.rendering import RenderedMessage, Renderer, TemplateError
from followthrough.settings import Settings
from followthrough.store import (
    contacts,
    ledger,
    policy,
    policy_state,
    preferences,
    runs,
    suppressions,
    timeline,
    users,
)
from followthrough.store.db import as_utc, session_scope
from followthrough.store.tables import Delivery, utcnow
from followthrough.store.templates import DbTemplateSource
from followthrough.unsubscribe import unsubscribe_headers, unsubscribe_url

#: SMTP replies that say the mailbox does not exist (RFC 3463 5.1.x): a hard bounce.
HARD_BOUNCE_CODES = frozenset({"smtp_550", "smtp_551", "smtp_553"})
#: Twilio 21610: the recipient replied STOP to our number; the carrier blocks us from now on.
TWILIO_OPTED_OUT = "twilio_21610"

#: What an attempt needs besides its provider call: recording the outcome through a busy
#: database (SQLite's busy timeout is 30 s) and event-loop lag on a loaded worker. A ``pending``
#: row's attempt may still be running until claim + provider timeout + this margin.
ATTEMPT_MARGIN = timedelta(seconds=30)
#: A row claimed before ``attempt_deadline`` existed: its attempt ran at most the delivery's
#: start-to-close timeout (workflows/_support.py) after its last update.
LEGACY_ATTEMPT = timedelta(minutes=2)
#: A retry that finds an attempt in flight asks again after the time left to its deadline, but
#: at most this long (the first attempt usually records its outcome within seconds) and at least
#: the shorter one (a deadline just passed, or a claim made this instant).
IN_FLIGHT_POLL = timedelta(seconds=5)
IN_FLIGHT_MIN = timedelta(seconds=1)


@dataclass(frozen=True)
class Prepared:
    """Either a final result for the workflow, or a message to send now."""

    result: DeliverResult | None = None
    message: OutboundMessage | None = None
    uncertain_before: bool = False
    #: The claimed attempt's deadline (wall clock): the provider call must end well before it.
    deadline: datetime | None = None


def attempt_in_flight(deadline: datetime, clock: datetime) -> ApplicationError:
    """The retryable answer to a retry that finds another attempt possibly still running: not
    ``uncertain`` yet (that attempt may still send and record ``sent``), ask again later."""
    wait = min(max(deadline - clock, IN_FLIGHT_MIN), IN_FLIGHT_POLL)
    return ApplicationError(
        f"an earlier attempt of this message may still be running (until {deadline:%H:%M:%S} UTC)",
        type="AttemptInFlight", next_retry_delay=wait,
    )


class Door:
    def __init__(self, engine: Engine, renderer: Renderer, settings: Settings,
                 clock: Callable[[], datetime] = utcnow, liveness: Liveness | None = None) -> None:
        self._engine = engine
        self._liveness = liveness  # this worker process: owns the attempts it claims
        self._renderer = renderer
        self._settings = settings
        self._clock = clock  # the wall clock of attempt deadlines (``now`` is the run's clock)

    def attempt_budget(self, channel: Channel, start_to_close: timedelta | None = None) -> timedelta:
        """How long an attempt on ``channel`` may run after its claim: the provider timeout plus
        ``ATTEMPT_MARGIN``, never beyond the activity's start-to-close timeout."""
        budget = timedelta(seconds=self._settings.provider_timeout(channel)) + ATTEMPT_MARGIN
        return min(budget, start_to_close) if start_to_close else budget

    # -- before the provider call -------------------------------------------------------

    def prepare(
        self, input: DeliverInput, key: str, now: datetime, failed: list[Channel],
        start_to_close: timedelta | None = None, token: bytes | None = None,
    ) -> Prepared:
        """Look up the key, decide, and claim the row (``pending``) for a send now; or return
        the final result. Raises ``AttemptInFlight`` while another attempt may still run.
        ``token``: this attempt's Temporal task token, kept on the claimed row so that the
        attempt can be failed for a retry if this process dies (followthrough/liveness.py).

        One transaction, the contact locked from its start: the key read here is the one the
        claim acts on (an attempt for the same key holds the same contact's lock), and the
        contact, the policy and the row are each read once (issue 9: two transactions per
        message, each re-reading them, were a sixth of the worker's CPU)."""
        with session_scope(self._engine) as session:
            if input.contact_id is not None:
                policy_state.lock_contact(session, input.contact_id)
            else:
                session.connection()  # a user's message about no contact: the transaction starts now
            # The run's step records handed over (the send under way and those before it): in
            # this transaction, so a delivery that answers has written them (the run drops them).
            runs.record_steps(session, input.steps)
            # 1. The key: a final outcome is returned unchanged; an attempt known to be over
            # without an outcome is uncertain; one that may still be running is waited for
            # (never resent).
            row = ledger.get_by_key(session, key, for_update=True)
            config = policy.read_config(session)
            uncertain_before = False
            if row is not None:  # channels that failed in earlier attempts stay excluded
                failed = [*failed, *(Channel(c) for c in row.failed_channels if Channel(c) not in failed)]
            refallback = row is not None and row.state == LedgerState.FAILED and row.channel in failed
            if row is not None and row.state in ledger.FINAL_STATES and not refallback:
                result = _result(row)
                if input.end is not None and row.sent_at is not None:
                    # An attempt that sent and ended the run, whose answer was lost: the run's
                    # records above put the step back to under way, so it is closed again (the
                    # run's end and its timeline entry stay as they were).
                    result = self._end_run(session, input, input.end, result)
                return Prepared(result=result)
            if row is not None and row.state in (LedgerState.PENDING, LedgerState.UNCERTAIN):
                if row.state == LedgerState.PENDING:
                    clock, deadline = self._clock(), _deadline(row)
                    # Over at its deadline, or at once when its worker process is known dead.
                    death = self._owner_death(session, row, clock) if clock < deadline else "deadline"
                    if death is None:  # a busy worker's attempt, late with its heartbeats
                        raise attempt_in_flight(deadline, clock)
                    _mark_uncertain(session, row, "attempt interrupted; outcome unknown" if death == "deadline"
                                    else f"attempt interrupted (its worker process {death}); outcome unknown")
                if not _at_least_once(config, input.category):
                    return Prepared(result=_result(row))
                uncertain_before = True
            # A message already decided (a transient retry, or a resend) keeps its channel.
            sticky = Channel(row.channel) if row is not None and row.decision == Verdict.SEND and not failed else None
            # Read once, as a row (no ORM object): the snapshot and the policy read it.
            contact = contacts.read(session, input.contact_id) if input.contact_id is not None else None
            snapshot = contacts.snapshot(contact) if contact is not None else ContactSnapshot()
            # A message to a user: the address comes from the users table, nowhere else; it
            # is written in their language and zone, with the contact's latest history.
            user = users.recipient(session, input.to_user_id, now) if input.to_user_id is not None else None
            if refallback and user is not None and not channels_for(user, failed):
                return Prepared(result=_result(row))  # every channel of the user failed
            readers = audience(session, input, user)
            # 2. Render every channel the decision may pick (templates read in this transaction).
            if sticky:
                candidates = [sticky]
            elif input.to_user_id is not None:  # the user's channels, in their order
                candidates = (channels_for(user, failed) if user is not None else []) or [input.channel]
            else:
                candidates = [c for c in (input.channel, *input.fallbacks) if c not in failed]
            with self._templates_through(session):
                rendered = {c: self._render(input, c, snapshot, readers) for c in dict.fromkeys(candidates)}
            # 3. Decide and claim the row; the commit comes before sending. A new row is
            # inserted once, decided (issue 9: an insert, then an update of the same row).
            new = row is None
            row = row or _new_row(input, key)
            if input.legacy_to:
                decision = Decision(verdict=Verdict.SKIP, channel=input.channel, reason=LEGACY_ADDRESS)
            elif input.to_user_id is not None:
                # To a user: the people policy, never the contact's (no consent, quiet hours,
                # caps or yields of the contact; and it does not count toward them). A channel
                # whose template does not render is passed over while another one renders.
                broken = [c for c, m in rendered.items() if not isinstance(m, RenderedMessage)]
                skip = [*failed, *broken] if len(broken) < len(rendered) else failed
                decision = decide_for_user(input.to_user_id, user, sticky, now=now, urgent=input.urgent,
                                           exclude=skip, chosen_at=input.chosen_at)
            elif sticky is not None:
                # A retry or a resend keeps its decision (quiet hours and caps are not asked
                # again), but a STOP or a suppression that came meanwhile is still honoured.
                contact = contact or contacts.read(session, input.recipient_contact)
                state = policy_state.load_state(session, contact, now, config)
                refused = _refusal(sticky, Category(input.category), state)
                decision = (Decision(verdict=Verdict.SKIP, channel=sticky, reason=refused) if refused
                            else Decision(verdict=Verdict.SEND, channel=sticky, reason=row.reason))
            else:
                contact = contact or contacts.read(session, input.recipient_contact)
                state = policy_state.load_state(session, contact, now, config)
                intent = MessageIntent(channel=input.channel, category=input.category,
                                       fallbacks=input.fallbacks, exclude=failed)
                decision = decide(intent, state, now, config)
            to = address_of(user, decision.channel or input.channel) if input.to_user_id is not None else None
            deadline = self._clock() + self.attempt_budget(decision.channel or input.channel, start_to_close)
            return self._apply(session, input, row, new, decision, now, rendered, snapshot, to,
                               uncertain_before, deadline, token)

    def _owner_death(self, session: Session, row: Delivery, clock: datetime) -> str | None:
        if self._liveness is None:  # a door outside a worker process (tests): deadlines only
            return None
        return self._liveness.attempt_over(session, row.attempt_owner, clock)

    def _templates_through(self, session: Session) -> AbstractContextManager[None]:
        """Templates from the database are read in the door's transaction (never on a second
        pooled connection while this one is held); other sources are read as they are."""
        source = self._renderer.source
        return source.reading_through(session) if isinstance(source, DbTemplateSource) else nullcontext()

    def _render(self, input: DeliverInput, channel: Channel, snapshot: ContactSnapshot,
                readers: Audience) -> RenderedMessage | str:
        run: dict[str, Any] = {"id": input.run_id, "definition": input.definition_name}
        if _has_unsubscribe(input, channel):
            # The same link as the List-Unsubscribe header, visible in the body (templates show
            # it as run.unsubscribe_url): not every mail app shows the header's button.
            run["unsubscribe_url"] = unsubscribe_url(self._settings, input.recipient_contact, channel,
                                                     input.category)
        try:
            return self._renderer.render(
                channel, input.template, snapshot, input.data, run=run, now=input.at, brand=input.brand,
                timeline=readers.timeline, reader=readers.reader,
            )
        except TemplateError as exc:
            return str(exc)

    def _apply(
        self, session: Session, input: DeliverInput, row: Delivery, new: bool, decision: Decision,
        now: datetime, rendered: dict[Channel, RenderedMessage | str], snapshot: ContactSnapshot,
        to: str | None, uncertain_before: bool, deadline: datetime, token: bytes | None = None,
    ) -> Prepared:
        fields = {"decision": decision.verdict.value, "decided_at": now}
        if decision.verdict == Verdict.SKIP:
            _store(session, row, new, state=LedgerState.SKIPPED, reason=decision.reason, **fields)
            _timeline(session, row, "message.skipped", f"{row.channel} skipped: {decision.reason}")
            return Prepared(result=_result(row))
        if decision.verdict == Verdict.DEFER:
            _store(session, row, new, state=LedgerState.DEFERRED, reason=decision.reason,
                          defer_until=decision.until, **fields)
            _timeline(session, row, "message.deferred",
                      f"{row.channel} deferred until {decision.until:%Y-%m-%d %H:%M} UTC: {decision.reason}")
            return Prepared(result=_result(row))
        channel = decision.channel or input.channel
        message = rendered.get(channel)
        if not isinstance(message, RenderedMessage):
            reason = f"render_error: {message}"
            _store(session, row, new, state=LedgerState.FAILED, channel=channel, reason=reason, **fields)
            _timeline(session, row, "message.failed", f"{channel} {reason}")
            return Prepared(result=_result(row))
        address = to if input.to_user_id is not None else _address(channel, snapshot)
        _store(
            session, row, new, state=LedgerState.PENDING, channel=channel, to_address=address,
            locale=message.locale_used, attempts=row.attempts + 1, reason=decision.reason,
            defer_until=None, attempt_deadline=deadline, attempt_token=token,
            attempt_owner=self._liveness.id if self._liveness is not None else None, **fields,
        )
        return Prepared(message=self._outbound(input, row.key, channel, address, message),
                        uncertain_before=uncertain_before, deadline=deadline)

    def _outbound(self, input: DeliverInput, key: str, channel: Channel, address: str | None,
                  rendered: RenderedMessage) -> OutboundMessage:
        headers: dict[str, str] = {}
        callback = None
        if channel in (Channel.SMS, Channel.VOICE):
            callback = f"{self._settings.public_base_url}/v1/webhooks/twilio/status"
        elif _has_unsubscribe(input, channel):
            # RFC 8058 one-click unsubscribe for everything but transactional mail.
            headers = unsubscribe_headers(self._settings, input.recipient_contact, input.category)
        if channel == Channel.EMAIL and input.thread:
            headers = {**headers, "In-Reply-To": input.thread, "References": input.thread}
        return OutboundMessage(
            channel=channel, key=key, to=address or "", text=rendered.text or "",
            subject=rendered.subject, html=rendered.html, locale=rendered.locale_used,
            headers=headers, status_callback=callback,
            attachments=invitation(self._settings, input, channel, address, rendered),
        )

    # -- after the provider call --------------------------------------------------------

    def sent(self, input: DeliverInput, key: str, message: OutboundMessage, receipt: SendReceipt,
             uncertain_before: bool) -> DeliverResult:
        return self.sent_to_lead(input, key, message, receipt, uncertain_before)[0]

    def sent_to_lead(self, input: DeliverInput, key: str, message: OutboundMessage, receipt: SendReceipt,
                     uncertain_before: bool) -> tuple[DeliverResult, str | None]:
        """Record ``sent``; also returns the workflow of the contact's lead this message is
        the first touch of (``activities/lead_touch.py``), read in the same transaction."""
        with session_scope(self._engine) as session:
            row = ledger.mark_sent(session, key, provider_id=receipt.provider_id, provider_status=receipt.status,
                                   reason="resent after an uncertain attempt" if uncertain_before else None)
            if row is None:
                raise ApplicationError(f"ledger row {key} vanished", non_retryable=True)
            _timeline(session, row, "message.sent",
                      f"{message.channel} '{input.template}' sent to {row.to_address}")
            result = _result(row, uncertain_before=uncertain_before)
            if input.end is not None:
                result = self._end_run(session, input, input.end, result)
            return result, waiting_lead(session, input, result)

    def _end_run(self, session: Session, input: DeliverInput, end: RunEnd, result: DeliverResult) -> DeliverResult:
        """The run's last send is over: close its step with the outcome and end the run, as the
        run itself would next (``end-with-last-send``: no finishing local activity); returns
        ``result`` saying so. A stop or a cancel that came during the send makes the run correct
        this end (``RunFinish.corrects``)."""
        # The step closes on the run's clock when that is ahead (a test server's skipped time).
        closed = max(self._clock(), input.at) if input.at is not None else self._clock()
        step = end.step.model_copy(update={
            "state": STEP_STATE_OF_LEDGER[result.state], "finished_at": closed, "reason": result.reason})
        runs.close(session, RunFinish(run_id=input.run_id, status=end.status, reason=end.reason, steps=[step]))
        return result.model_copy(update={"ended": True})

    def failed(self, input: DeliverInput, key: str, message: OutboundMessage,
               exc: PermanentChannelError) -> DeliverResult:
        with session_scope(self._engine) as session:
            row = _row(session, key)
            reason = f"{exc.code or 'permanent'}: {exc}"
            failed_channels = [*row.failed_channels, message.channel.value]
            ledger.update(session, row, state=LedgerState.FAILED, reason=reason,
                          failed_channels=list(dict.fromkeys(failed_channels)))
            _timeline(session, row, "message.failed", f"{message.channel} failed: {reason}")
            # A user's address is not a contact's: its bounce suppresses and revokes nothing.
            to_contact = input.to_user_id is None
            if to_contact and exc.code in HARD_BOUNCE_CODES and message.channel == Channel.EMAIL:
                suppressions.add(session, Channel.EMAIL, message.to, reason=reason, source="bounce")
            elif to_contact and exc.code == TWILIO_OPTED_OUT:
                preferences.revoke(session, input.recipient_contact, Channel.SMS, None, source="provider")
            return _result(row)

    def retrying(self, key: str, exc: TransientChannelError) -> None:
        # Known not sent: the next attempt must not mistake this row for an interrupted one.
        with session_scope(self._engine) as session:
            row = _row(session, key)
            if row.state != LedgerState.PENDING:  # a stale attempt: the row has moved on
                return
            ledger.update(session, row, state=LedgerState.RETRYING, reason=f"{exc.code or 'transient'}: {exc}")

    def uncertain(self, input: DeliverInput, key: str, reason: str) -> tuple[DeliverResult, bool]:
        """Record an unknown outcome; returns the result and whether the category resends."""
        with session_scope(self._engine) as session:
            row = _row(session, key)
            _mark_uncertain(session, row, reason)
            return _result(row), _at_least_once(policy.read_config(session), input.category)

    def withdraw(self, key: str, uncertain_before: bool) -> DeliverResult:
        """The run was cancelled after the row was claimed for an attempt but before the
        provider call: nothing was sent now (an earlier cut-off attempt stays ``uncertain``)."""
        with session_scope(self._engine) as session:
            row = _row(session, key)
            if uncertain_before:
                _mark_uncertain(session, row, "run cancelled; an earlier attempt's outcome is unknown")
            else:
                ledger.update(session, row, state=LedgerState.SKIPPED, reason="run cancelled")
                _timeline(session, row, "message.skipped", f"{row.channel} skipped: run cancelled")
            return _result(row)

    def give_up(self, input: GiveUpInput) -> LedgerState | None:
        """Close a row the run stops asking about. What may have been sent stays ``uncertain``
        (a ``pending`` row: an attempt was cut off mid-call); what surely was not is closed.
        Returns the row's state afterwards (None: the message never reached the ledger)."""
        with session_scope(self._engine) as session:
            row = ledger.get_by_key(session, input.key, for_update=True)
            if row is None:
                return None
            if row.state in ledger.FINAL_STATES or row.state == LedgerState.UNCERTAIN:
                return LedgerState(row.state)
            if row.state == LedgerState.PENDING:
                _mark_uncertain(session, row, f"attempt cut off ({input.reason})")
            elif input.skipped:
                ledger.update(session, row, state=LedgerState.SKIPPED, reason=input.reason)
                _timeline(session, row, "message.skipped", f"{row.channel} skipped: {input.reason}")
            else:
                ledger.update(session, row, state=LedgerState.FAILED, reason=input.reason)
                _timeline(session, row, "message.failed", f"{row.channel} failed: {input.reason}")
            return LedgerState(row.state)


def _new_row(input: DeliverInput, key: str) -> Delivery:
    """The ledger row of a message not seen before, stored by ``_store`` once decided."""
    return ledger.new_record(  # type: ignore[no-any-return]
        key=key, run_id=input.run_id, step_id=input.step_id, visit=input.visit,
        contact_id=input.contact_id, channel=input.channel, category=input.category,
        template=input.template, state=LedgerState.RETRYING, attempts=0, to_user_id=input.to_user_id,
    )


def _store(session: Session, row: Delivery, new: bool, **fields: Any) -> None:
    """Update ``row``, or insert it with ``fields`` when it is ``new`` (the claim)."""
    if not new:
        ledger.update(session, row, **fields)
    elif not ledger.insert(session, row, **fields):  # another attempt claimed the key this instant
        raise ApplicationError("ledger key claimed concurrently", type="Busy")


def _refusal(channel: Channel, category: Category, state: ContactPolicyState) -> str | None:
    """Consent or suppression that forbids this channel now (the decision's own first checks)."""
    if (channel, category) in state.revoked:
        return "no_consent"
    if channel in state.suppressed_channels:
        return "suppressed"
    return None


def _at_least_once(config: PolicyConfig, category: Category) -> bool:
    category_policy = config.categories.get(Category(category))
    return bool(category_policy and category_policy.at_least_once)


def _row(session: Session, key: str) -> Delivery:
    row = ledger.get_by_key(session, key, for_update=True)
    if row is None:
        raise ApplicationError(f"ledger row {key} vanished", non_retryable=True)
    return row


def _deadline(row: Delivery) -> datetime:
    """Until when the attempt that left this row ``pending`` may still be running."""
    deadline = as_utc(row.attempt_deadline)
    if deadline is not None:
        return deadline
    return (as_utc(row.updated_at) or utcnow()) + LEGACY_ATTEMPT


def _mark_uncertain(session: Session, row: Delivery, reason: str) -> None:
    ledger.update(session, row, state=LedgerState.UNCERTAIN, reason=reason)
    _timeline(session, row, "message.uncertain", f"{row.channel} outcome unknown: {reason}")


def _timeline(session: Session, row: Any, kind: str, summary: str) -> None:
    """The row's timeline entry, one Core INSERT; ``row`` is a ``Delivery`` or a row
    ``ledger.mark_sent`` returned."""
    if row.contact_id is None:
        return
    timeline.append(
        session, contact_id=row.contact_id, kind=kind, summary=summary, direction="outbound",
        channel=row.channel, run_id=row.run_id, delivery_key=row.key,
        data={"state": row.state, "template": row.template, "provider_id": row.provider_id,
              "reason": row.reason, "decision": row.decision},
    )


def _result(row: Any, *, uncertain_before: bool = False) -> DeliverResult:
    return DeliverResult(
        key=row.key, state=LedgerState(row.state), channel=Channel(row.channel), reason=row.reason,
        provider_id=row.provider_id, defer_until=as_utc(row.defer_until),
        uncertain_before=uncertain_before,
    )


def _address(channel: Channel, snapshot: ContactSnapshot) -> str | None:
    return snapshot.email if channel == Channel.EMAIL else snapshot.phone


def _has_unsubscribe(input: DeliverInput, channel: Channel) -> bool:
    """An email to a contact that is not transactional carries an unsubscribe link."""
    return channel == Channel.EMAIL and input.to_user_id is None and input.category != Category.TRANSACTIONAL
