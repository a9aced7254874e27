"""Preview a sequence for one contact: the simulated timeline, with every message rendered.

"What will happen to Anna?" The interpreter a real run uses (``dsl.simulate``) runs on a simulated
clock, and each send goes through a dry run of the delivery door's decision: ``decide`` on a
``ContactPolicyState`` built as the door builds it (a stored contact's from the database, read
only, plus the sends this preview already planned; a sample contact's from its fields, consent
granted). "Deferred until T" moves the clock to T and asks again, as the workflow does; a send
renders for the chosen channel and the contact's locale. Nothing is written, nothing leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from followthrough import rendering
from followthrough.calendar import Calendar, calendars_with
from followthrough.dsl import interpreter as dsl
from followthrough.dsl.schema import SequenceDefinition
from followthrough.dsl.simulate import Planned, simulate
from followthrough.errors import Conflict
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Channel, RunStatus, StepState
from followthrough.policy.contact_policy import (
    ContactPolicyState,
    Decision,
    MessageIntent,
    PolicyConfig,
    RecentSend,
    Verdict,
    decide,
)
from followthrough.policy.people_policy import (
    LEGACY_ADDRESS,
    UserRecipient,
    address_of,
    decide_for_user,
)
from followthrough.rendering import Renderer, SmsStats, TemplateError, normalize_locale
from followthrough.sms_encoding import sms_info
from followthrough.store import calendars as calendar_store
from followthrough.store import contacts, definitions, policy, policy_state, users
from followthrough.store.tables import Contact

#: A preview ends here even if the run would go on (a loop with waits runs forever).
MAX_ACTIONS = 1000
#: SMS longer than this many segments get a warning (the validator's default limit).
SMS_SEGMENT_WARNING = 3


@dataclass(frozen=True)
class PreviewMessage:
    channel: Channel
    to: str | None
    text: str
    locale_used: str
    subject: str | None = None
    html: str | None = None
    sms: SmsStats | None = None


@dataclass(frozen=True)
class Deferral:
    at: datetime  # when the door was asked
    until: datetime  # when it said to ask again
    reason: str | None


@dataclass
class PreviewStep:
    """One step execution, shaped like a row of the runs table plus what the preview adds."""

    step_id: str
    visit: int
    type: str
    state: StepState
    at: datetime  # when it takes effect: a send when it goes out (after deferrals), else its start
    started_at: datetime
    finished_at: datetime
    due_at: datetime | None = None
    channel: Channel | None = None
    reason: str | None = None
    deferrals: list[Deferral] = field(default_factory=list)
    message: PreviewMessage | None = None


@dataclass(frozen=True)
class PreviewEnd:
    status: RunStatus
    reason: str | None
    at: datetime
    step_id: str | None = None


@dataclass
class PreviewResult:
    definition: str
    version: int
    contact: ContactSnapshot
    start: datetime
    steps: list[PreviewStep]
    end: PreviewEnd | None
    warnings: list[str]


@contextmanager
def _reading(engine: Engine) -> Iterator[Session]:
    """A session that never commits: whatever happens, the preview writes nothing. (Its rows
    expire on the final rollback: read what is needed inside.)"""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


@dataclass
class _Send:  # what the dry-run door decided for one send (step id, visit)
    state: StepState = StepState.SENT
    channel: Channel | None = None
    reason: str | None = None
    deferrals: list[Deferral] = field(default_factory=list)
    message: PreviewMessage | None = None


class DryRunDoor:
    """The delivery door's decision without its writes: policy, then rendering; no ledger row,
    no timeline entry, no channel call. Callable as ``simulate``'s ``door``."""

    def __init__(self, engine: Engine, renderer: Renderer, config: PolicyConfig, *,
                 definition_name: str, contact_id: int | None, respect_policy: bool = True) -> None:
        self._engine, self._renderer, self._config = engine, renderer, config
        self._definition_name, self._contact_id = definition_name, contact_id
        self._respect_policy = respect_policy
        self._planned: list[RecentSend] = []  # sends this preview made, counted against caps
        self.sends: dict[tuple[str, int], _Send] = {}

    def __call__(self, action: dsl.Send, ctx: dsl.Context) -> datetime | None:
        """Decide one ask; the time to ask again when the answer is "not now"."""
        outcome = self.sends.setdefault((action.step_id, action.visit), _Send())
        user = self._user(action.to_user, ctx.now) if action.to_user is not None else None
        decision = self._decide(action, ctx, user)
        if decision.verdict == Verdict.DEFER and decision.until is not None:
            outcome.deferrals.append(Deferral(ctx.now, decision.until, decision.reason))
            outcome.channel = decision.channel
            return decision.until
        if decision.verdict != Verdict.SEND:
            outcome.state, outcome.channel, outcome.reason = StepState.SKIPPED, None, decision.reason
            return None
        channel = decision.channel or action.channel
        outcome.channel, outcome.reason = channel, decision.reason
        try:
            rendered = self._renderer.render(channel, action.template, ctx.contact, ctx.data,
                                             run={"id": "preview", "definition": self._definition_name},
                                             now=ctx.now, brand=action.brand, reader=user)
        except TemplateError as exc:  # the real door records this as a failed message
            outcome.state, outcome.reason = StepState.FAILED, f"render_error: {exc}"
            return None
        if action.to_user is not None:  # to a user: never counted toward the contact's caps
            outcome.message = _message(rendered, address_of(user, channel))
            return None
        self._planned.append(RecentSend(category=action.category, channel=channel, at=ctx.now))
        outcome.message = _message(rendered, _address(channel, ctx.contact))
        return None

    def _user(self, user_id: int, now: datetime) -> UserRecipient | None:
        with _reading(self._engine) as session:
            return users.recipient(session, user_id, now)

    def _decide(self, action: dsl.Send, ctx: dsl.Context, user: UserRecipient | None) -> Decision:
        if action.legacy_to:
            return Decision(verdict=Verdict.SKIP, reason=LEGACY_ADDRESS)
        if action.to_user is not None:  # a user's message: the people policy, as the door does
            return decide_for_user(action.to_user, user, now=ctx.now, urgent=action.urgent)
        if not self._respect_policy:
            return Decision(verdict=Verdict.SEND, channel=action.channel, reason="policy not applied")
        intent = MessageIntent(channel=action.channel, category=action.category,
                               fallbacks=list(action.fallbacks))
        return decide(intent, self._state(ctx), ctx.now, self._config)

    def _state(self, ctx: dsl.Context) -> ContactPolicyState:
        if self._contact_id is not None:
            with _reading(self._engine) as session:
                row = contacts.get(session, self._contact_id)
                state = policy_state.load_state(session, row, ctx.now, self._config)
        else:
            state = sample_state(ctx.contact, ctx.now)
        return state.model_copy(update={"recent": [*state.recent, *self._planned]})


def sample_state(contact: ContactSnapshot, now: datetime) -> ContactPolicyState:
    """A sample contact's policy state: its addresses and zone, consent granted, nothing sent,
    and the public holidays of its country (``attributes.country`` or the phone's region)."""
    row = Contact(name=contact.name, email=contact.email, phone=contact.phone,
                  locale=contact.locale, time_zone=contact.time_zone, attributes=contact.attributes)
    addresses = {c: a for c in Channel if (a := _address(c, contact))}
    return ContactPolicyState(time_zone=contact.time_zone, addresses=addresses,
                              holidays=policy_state.contact_holidays(row, now))


def preview_sequence(
    engine: Engine, renderer: Renderer, name: str, *, start: datetime, version: int | None = None,
    contact_id: int | None = None, sample: ContactSnapshot | None = None,
    data: Mapping[str, Any] | None = None, events: Iterable[tuple[datetime, RunEvent]] = (),
    respect_policy: bool = True, calendars: Mapping[str, Calendar] | None = None,
) -> PreviewResult:
    """The simulated timeline of ``name`` (``version``, default the active one, else the newest)
    for a stored contact (``contact_id``) or a ``sample`` one, from ``start``."""
    with _reading(engine) as session:
        row = definitions.get(session, name, version)
        if row.kind != "sequence":
            raise Conflict(f"'{name}' is a {row.kind} definition, not a sequence")
        definition, pinned = SequenceDefinition.model_validate(row.document), row.version
        if calendars is None:  # the calendars a run would pin: stored ones, then the built-ins
            documents, _missing = calendar_store.resolve(session, calendar_store.referenced(row.document))
            calendars = calendars_with(documents)
        config = policy.get_config(session)
        contact = contacts.snapshot(contacts.get(session, contact_id)) if contact_id is not None else None
    contact = contact or sample or ContactSnapshot()
    door = DryRunDoor(engine, renderer, config, definition_name=name, contact_id=contact_id,
                      respect_policy=respect_policy)
    events = list(events)
    plan, state = simulate(
        definition, start=start, contact=contact, data=dict(data or {}), events=events,
        calendars=calendars, max_actions=MAX_ACTIONS, door=door,
    )
    why = "stopped" if state.stop_reason is not None else "goal reached"
    steps = [step for planned in plan if (step := _step(planned, door, why)) is not None]
    last = plan[-1].action if plan else None
    end = None
    if isinstance(last, dsl.End):
        end = PreviewEnd(last.status, last.reason, plan[-1].at, last.step_id)
    return PreviewResult(definition=name, version=pinned, contact=contact, start=start,
                         steps=steps, end=end, warnings=_warnings(steps, plan, end, contact, events))


def _step(planned: Planned, door: DryRunDoor, why: str) -> PreviewStep | None:
    """The runs-table row the workflow records for one action (None for a plain end)."""
    action, at = planned.action, planned.at
    ended = planned.ended or at
    if isinstance(action, dsl.End):
        if action.step_id is None:
            return None
        return PreviewStep(action.step_id, 0, "exit", StepState.DONE, at, at, at, reason=action.reason)
    if isinstance(action, dsl.Send):
        sent = door.sends.get((action.step_id, action.visit), _Send())
        state, reason = sent.state, sent.reason
        if planned.outcome == "interrupted":
            last = sent.deferrals[-1].reason if sent.deferrals else None
            state, reason = StepState.SKIPPED, f"{why} while deferred ({last})"
        return PreviewStep(action.step_id, action.visit, "send", state, ended, at, ended,
                           channel=sent.channel, reason=reason, deferrals=list(sent.deferrals),
                           message=sent.message if state == StepState.SENT else None)
    if isinstance(action, dsl.Wait):
        reason = why if planned.outcome == "interrupted" else action.description
        return PreviewStep(action.step_id, action.visit, "wait", StepState.DONE, at, at, ended,
                           due_at=action.until, reason=reason)
    if isinstance(action, dsl.WaitFor):
        reason = {"interrupted": why, "received": f"{action.event} received"}.get(
            planned.outcome or "", "timed out")
        return PreviewStep(action.step_id, action.visit, "wait_for", StepState.DONE, at, at, ended,
                           due_at=action.until, reason=reason)
    if isinstance(action, dsl.CreateTask):
        reason = f"would create a {action.describe()}"
        if action.wait:
            reason += {"interrupted": f"; {why}", "received": "; the task ended",
                       "waiting": "; waiting for the task (no timeout)"}.get(planned.outcome or "", "; timed out")
        state = StepState.ACTIVE if planned.outcome == "waiting" else StepState.DONE
        return PreviewStep(action.step_id, action.visit, "task", state, at, at, ended,
                           due_at=action.until, reason=reason)
    if isinstance(action, dsl.SetValue):
        return PreviewStep(action.step_id, action.visit, "set", StepState.DONE, at, at, at,
                           reason=f"{action.key} = {action.value!r}")
    if isinstance(action, dsl.HandToLead):
        return PreviewStep(action.step_id, action.visit, "lead", StepState.DONE, at, at, at,
                           reason=f"would hand the contact to qualification (source {action.source})")
    if isinstance(action, dsl.StartDefinition):
        return PreviewStep(action.step_id, action.visit, "start", StepState.DONE, at, at, at,
                           reason=f"{action.definition}: would be started (not previewed)")
    note: dsl.Note = action
    return PreviewStep(note.step_id, note.visit, note.type, note.state, at, at, at, reason=note.reason)


def _warnings(steps: list[PreviewStep], plan: list[Planned], end: PreviewEnd | None,
              contact: ContactSnapshot, events: list[tuple[datetime, RunEvent]]) -> list[str]:
    found: list[str] = []
    if end is None:
        found.append(f"the preview stopped after {len(plan)} actions without reaching the end")
    language = normalize_locale(contact.locale).split("-")[0]
    for step in steps:
        message = step.message
        if message is not None and message.locale_used.split("-")[0] != language:
            found.append(f"{step.step_id}: no '{contact.locale}' template; rendered in '{message.locale_used}'")
        if message is not None and message.sms is not None and message.sms.segments > SMS_SEGMENT_WARNING:
            found.append(f"{step.step_id}: the SMS is {message.sms.segments} segments ({message.sms.encoding})")
        if step.type == "start":
            found.append(f"{step.step_id}: the sequence it starts is not part of this preview")
    late = [e for at, e in events if end is not None and at > end.at]
    if late:
        found.append(f"{len(late)} event(s) after the run ended were not used")
    return list(dict.fromkeys(found))


def _message(rendered: rendering.RenderedMessage, to: str | None) -> PreviewMessage:
    sms = None
    if rendered.channel == Channel.SMS:
        info = sms_info(rendered.text)
        sms = SmsStats(encoding=info.encoding, characters=info.characters, segments=info.segments)
    return PreviewMessage(channel=rendered.channel, to=to, text=rendered.text,
                          locale_used=rendered.locale_used, subject=rendered.subject,
                          html=rendered.html, sms=sms)


def _address(channel: Channel, contact: ContactSnapshot) -> str | None:
    return contact.email if channel == Channel.EMAIL else contact.phone
