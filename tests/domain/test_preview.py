"""The preview core: simulate's dry-run door hook (pure), and the preview service on a database
it only reads (contact policy decisions, caps counting the preview's own sends, render errors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from followthrough.calendar import Calendar
from followthrough.dsl.interpreter import Context, End, Send, Wait
from followthrough.dsl.schema import SequenceDefinition
from followthrough.dsl.simulate import simulate
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Category, Channel, RunStatus
from followthrough.policy.contact_policy import PolicyConfig, QuietHours
from followthrough.policy.people_policy import LEGACY_ADDRESS
from followthrough.preview import preview_sequence
from followthrough.rendering import Renderer, TemplateParts
from followthrough.store import calendars as calendar_store
from followthrough.store import contacts, definitions, policy, preferences, templates, users
from followthrough.store.db import session_scope
from followthrough.store.templates import DbTemplateSource

START = datetime(2024, 6, 5, 8, tzinfo=UTC)  # Wednesday 10:00 in Budapest
ANNA = ContactSnapshot(name="Anna Kovács", email="anna@example.test", phone="+36201234567",
                       locale="en", time_zone="Europe/Budapest")
MAIL = {"type": "send", "channel": "email", "template": "welcome"}
SMS = {"type": "send", "channel": "sms", "template": "welcome_followup"}


def definition(*steps: dict[str, Any], **top: Any) -> SequenceDefinition:
    return SequenceDefinition.model_validate({"name": "seq", "steps": list(steps), **top})


class TestSimulateDoor:
    def test_a_deferral_moves_the_clock_and_the_door_is_asked_again(self) -> None:
        asked: list[datetime] = []
        later = START + timedelta(hours=5)

        def door(action: Send, ctx: Context) -> datetime | None:
            asked.append(ctx.now)
            return later if len(asked) == 1 else None

        d = definition({"id": "a", **MAIL}, {"id": "w", "type": "wait", "duration": "PT1H"})
        plan, _ = simulate(d, start=START, contact=ANNA, door=door)
        assert asked == [START, later]
        assert [(p.action.step_id if not isinstance(p.action, End) else "end", p.at, p.ended)
                for p in plan] == [("a", START, later), ("w", later, later + timedelta(hours=1)),
                                   ("end", later + timedelta(hours=1), None)]

    def test_a_stop_during_a_deferral_interrupts_the_send(self) -> None:
        stop_at = START + timedelta(hours=2)
        d = definition({"id": "a", **MAIL}, {"id": "b", **MAIL}, stop_on=["reply"])
        plan, state = simulate(d, start=START, contact=ANNA, events=[(stop_at, RunEvent(kind="reply"))],
                               door=lambda action, ctx: START + timedelta(days=1))
        assert [(type(p.action).__name__, p.outcome, p.ended) for p in plan] == [
            ("Send", "interrupted", stop_at), ("End", None, None)]
        assert plan[-1].action == End(RunStatus.STOPPED, "reply") and state.stop_reason == "reply"

    def test_a_deferral_never_asks_again_sooner_than_a_second(self) -> None:
        asked: list[datetime] = []

        def door(action: Send, ctx: Context) -> datetime | None:
            asked.append(ctx.now)
            return ctx.now if len(asked) == 1 else None  # "until now": the workflow waits 1 s

        simulate(definition({"id": "a", **MAIL}), start=START, contact=ANNA, door=door)
        assert asked == [START, START + timedelta(seconds=1)]

    def test_without_a_door_sends_take_no_time(self) -> None:
        d = definition({"id": "a", **MAIL}, {"id": "w", "type": "wait", "duration": "PT1H"})
        plan, _ = simulate(d, start=START, contact=ANNA)
        assert [(p.at, p.ended) for p in plan] == [
            (START, None), (START, START + timedelta(hours=1)), (START + timedelta(hours=1), None)]
        assert isinstance(plan[1].action, Wait)


def _save(engine: Engine, name: str, *steps: dict[str, Any], **top: Any) -> None:
    document = {"name": name, "kind": "sequence", "category": "service", "steps": list(steps), **top}
    with session_scope(engine) as session:
        definitions.save(session, name, "sequence", document, publish=True)


def _preview(engine: Engine, name: str, **kwargs: Any):  # type: ignore[no-untyped-def]
    renderer = Renderer(DbTemplateSource(engine), "en")
    kwargs.setdefault("sample", ANNA)
    return preview_sequence(engine, renderer, name, start=kwargs.pop("start", START), **kwargs)


class TestPreviewService:
    def test_caps_count_the_sends_the_preview_already_planned(self, engine: Engine) -> None:
        _save(engine, "promo", {"id": "one", **MAIL}, {"id": "two", **MAIL}, category="marketing")
        result = _preview(engine, "promo")
        one, two = result.steps
        assert (one.state, one.at, two.state, two.at) == ("sent", START, "sent", START + timedelta(days=1))
        assert [(d.at, d.until, d.reason) for d in two.deferrals] == [
            (START, START + timedelta(days=1), "cap:marketing:P1D")]

    def test_the_definitions_brand_names_the_sender_unless_the_data_does(self, engine: Engine) -> None:
        _save(engine, "branded", {"id": "hello", **MAIL}, brand="Nordlicht Shop")
        own = _preview(engine, "branded").steps[0].message
        given = _preview(engine, "branded", data={"company": "Aurora"}).steps[0].message
        assert (own.subject, given.subject) == ("Welcome to Nordlicht Shop, Anna!", "Welcome to Aurora, Anna!")

    def test_a_stored_contact_is_decided_on_its_stored_consent(self, engine: Engine) -> None:
        _save(engine, "sms_first", {"id": "text", **SMS, "fallback": ["email"]})
        with session_scope(engine) as session:
            contact_id = contacts.create(session, ANNA.model_dump(exclude={"id"})).id
            preferences.revoke(session, contact_id, Channel.SMS, [Category.SERVICE], source="api")
            templates.put(session, "email", "welcome_followup", "en",
                          TemplateParts(subject="Thanks, {{ contact.name }}", text="Welcome aboard."))
        result = _preview(engine, "sms_first", sample=None, contact_id=contact_id)
        step = result.steps[0]
        assert (step.state, step.channel, step.reason) == ("sent", Channel.EMAIL, "fallback:no_consent")
        assert step.message is not None and step.message.subject == "Thanks, Anna Kovács"

    def test_a_stop_while_deferred_skips_the_send(self, engine: Engine) -> None:
        _save(engine, "night_sms", {"id": "text", **SMS}, stop_on=["reply"])
        night, reply = datetime(2024, 6, 5, 20, tzinfo=UTC), datetime(2024, 6, 5, 23, tzinfo=UTC)
        result = _preview(engine, "night_sms", start=night, events=[(reply, RunEvent(kind="reply"))])
        step = result.steps[0]
        assert (step.state, step.reason, step.finished_at, step.message) == (
            "skipped", "stopped while deferred (quiet_hours)", reply, None)
        assert result.end is not None and (result.end.status, result.end.at) == ("stopped", reply)

    def test_the_saved_policy_is_the_one_applied(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            policy.put_config(session, PolicyConfig(quiet_hours=QuietHours(channels=[])))
        _save(engine, "night_sms_free", {"id": "text", **SMS})
        night = datetime(2024, 6, 5, 20, tzinfo=UTC)
        assert _preview(engine, "night_sms_free", start=night).steps[0].at == night

    def test_a_render_error_is_reported_on_the_step(self, engine: Engine) -> None:
        _save(engine, "broken", {"id": "mail", "type": "send", "channel": "email", "template": "missing"},
              {"id": "after", **MAIL})
        result = _preview(engine, "broken")
        broken, after = result.steps
        assert (broken.state, broken.message) == ("failed", None)
        assert broken.reason == "render_error: template email/missing not found for locales en"
        assert after.state == "sent"

    def test_an_internal_notification_shows_the_users_own_address(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            rep, _ = users.create(session, name="Rep", email="rep@example.test", role="rep")
        _save(engine, "notify", {"id": "rep", "type": "send", "channel": "internal", "template": "welcome",
                                 "to_user": "data.rep_id"})
        result = _preview(engine, "notify", data={"rep_id": rep.id, "rep_email": "evil@example.test"})
        step = result.steps[0]
        assert (step.state, step.channel, step.message and step.message.to) == (
            "sent", Channel.EMAIL, "rep@example.test")

    def test_an_internal_notification_to_an_unknown_user_shows_the_skip(self, engine: Engine) -> None:
        _save(engine, "notify_nobody", {"id": "rep", "type": "send", "channel": "internal", "template": "welcome",
                                        "to_user": "data.rep_id"})
        result = _preview(engine, "notify_nobody", data={"rep_id": 9999})
        step = result.steps[0]
        assert (step.state, step.reason, step.message) == ("skipped", "no_recipient: user 9999 does not exist", None)

    def test_a_version_saved_before_to_user_shows_the_skip(self, engine: Engine) -> None:
        _save(engine, "notify_old", {"id": "rep", "type": "send", "channel": "internal", "template": "welcome"})
        result = _preview(engine, "notify_old", data={"rep_email": "rep@example.test"})
        step = result.steps[0]
        assert (step.state, step.reason, step.message) == ("skipped", LEGACY_ADDRESS, None)

    def test_internal_notifications_do_not_count_toward_the_contacts_caps(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            rep, _ = users.create(session, name="Rep", email="rep@example.test", role="rep")
        alert = {"type": "send", "channel": "internal", "template": "welcome", "to_user": rep.id}
        _save(engine, "alerts_then_promo", {"id": "a1", **alert}, {"id": "a2", **alert}, {"id": "promo", **MAIL},
              category="marketing")
        result = _preview(engine, "alerts_then_promo")
        assert [(s.step_id, s.state, s.at, s.message and s.message.to) for s in result.steps] == [
            ("a1", "sent", START, "rep@example.test"), ("a2", "sent", START, "rep@example.test"),
            ("promo", "sent", START, "anna@example.test")]

    def test_a_loop_that_never_ends_is_cut_off_with_a_warning(self, engine: Engine) -> None:
        _save(engine, "forever", {"id": "w", "type": "wait", "duration": "P1D"}, {"id": "g", "type": "goto", "goto": "w"})
        result = _preview(engine, "forever")
        assert result.end is None and len(result.steps) == 1000
        assert result.warnings == ["the preview stopped after 1000 actions without reaching the end"]

    def test_stored_calendars_count_as_a_run_would_pin_them(self, engine: Engine) -> None:
        # A desk open 10:00-12:00 UTC on weekdays: from Wednesday 08:00 UTC, 3 working hours end
        # on Thursday at 11:00, for a business wait and a wait_for timeout alike.
        desk = Calendar(name="desk", week={d: [("10:00", "12:00")] for d in ("mon", "tue", "wed", "thu", "fri")})
        with session_scope(engine) as session:
            calendar_store.put(session, desk)
        _save(engine, "desk_hours",
              {"id": "w", "type": "wait", "business": {"duration": "PT3H", "calendar": "desk"}},
              {"id": "f", "type": "wait_for", "event": "reply",
               "timeout": {"after": "PT3H", "business": True, "calendar": "desk"}})
        wait, wait_for = _preview(engine, "desk_hours").steps
        thursday = datetime(2024, 6, 6, 11, tzinfo=UTC)
        assert (wait.due_at, wait_for.started_at) == (thursday, thursday)
        assert wait_for.due_at == datetime(2024, 6, 7, 12, tzinfo=UTC)  # Thu 11-12, Fri 10-12
