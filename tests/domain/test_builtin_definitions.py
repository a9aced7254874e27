"""The built-in definitions (``definitions/``): valid, translated into en/ru/hu, and doing what
they say. Bootstrap seeds these files into every database, so a broken one breaks every test run.

The simulations below are the documentation of each built-in: the planned steps and their local
times for a contact in Budapest enrolled on Monday 2026-12-07 at 08:00.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import nodes

from followthrough.bootstrap import load_definition_file
from followthrough.dsl.interpreter import (
    Context,
    CreateTask,
    End,
    Note,
    Send,
    SetValue,
    StartDefinition,
    Wait,
    WaitFor,
)
from followthrough.dsl.schema import SendStep, SequenceDefinition
from followthrough.dsl.simulate import Planned, simulate
from followthrough.dsl.validate import validate
from followthrough.models.contact import ContactSnapshot
from followthrough.models.runs import RunEvent
from followthrough.models.vocab import Category, Channel
from followthrough.rendering import (
    PARTS,
    FileTemplateSource,
    RenderedMessage,
    Renderer,
    build_environment,
    validate_template,
)
from followthrough.settings import PROJECT_ROOT
from followthrough.sms_encoding import sms_info

DEFINITIONS = PROJECT_ROOT / "definitions"
SOURCE = FileTemplateSource(PROJECT_ROOT / "templates")
RENDERER = Renderer(SOURCE, "en")
LOCALES = ("en", "ru", "hu")
SMS_SEGMENT_LIMIT = 2  # ru/hu are UCS-2: two segments are 134 characters
BUDAPEST = ZoneInfo("Europe/Budapest")
START = datetime(2026, 12, 7, 8, tzinfo=BUDAPEST)  # a Monday
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
HUNGARIAN = re.compile(r"[áéíóöőúüűÁÉÍÓÖŐÚÜŰ]")

CONTACTS = {
    "en": ContactSnapshot(id=1, name="Anna Smith", email="anna@example.test", phone="+12025550143",
                          locale="en", time_zone="America/New_York"),
    "ru": ContactSnapshot(id=2, name="Анна Иванова", email="anna@example.test", phone="+79123456789",
                          locale="ru-RU", time_zone="Europe/Moscow"),
    "hu": ContactSnapshot(id=3, name="Kovács Anna", email="anna@example.test", phone="+36201234567",
                          locale="hu", time_zone="Europe/Budapest"),
}
def _files() -> list[Path]:
    return sorted(p for p in DEFINITIONS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


#: The built-in sequences (the lead policy: test_builtin_lead_policy.py).
DEFINITION_LIST = {path.stem: d for path in _files()
                   if isinstance(d := load_definition_file(path), SequenceDefinition)}
#: Per definition: the enrollment data its documentation gives (every key with its example),
#: and only the keys a run cannot do without (the others have defaults or are left out).
SAMPLE_DATA: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    name: ({key: field.example for key, field in d.data.items()},
           {key: field.example for key, field in d.data.items() if field.required})
    for name, d in DEFINITION_LIST.items()
}


def _template_exists(channel: str, name: str, locale: str) -> bool:
    """This exact locale, or its language (``ru-RU`` -> ``ru``)."""
    return any(SOURCE.get(Channel(channel), name, tag) is not None
               for tag in dict.fromkeys([locale, locale.split("-")[0]]))


def _templates_used(definition: SequenceDefinition) -> list[tuple[Channel, str]]:
    """Every (channel, template) a run may render: internal notifications are emails."""
    used: list[tuple[Channel, str]] = []
    for step in definition.steps:
        if isinstance(step, SendStep):
            used.append((Channel.EMAIL if step.channel == "internal" else Channel(step.channel), step.template))
            used += [(Channel(c), step.template) for c in step.fallback]
    return list(dict.fromkeys(used))


def _full_data(definition: SequenceDefinition) -> dict[str, Any]:
    return SAMPLE_DATA.get(definition.name, ({}, {}))[0]


def _sms_segments(definition: SequenceDefinition) -> Callable[[str, str], int]:
    def segments(template: str, locale: str) -> int:
        message = RENDERER.render(Channel.SMS, template, CONTACTS[locale], _full_data(definition))
        return sms_info(message.text).segments
    return segments


RENDER_CASES = [
    pytest.param(definition, channel, template, locale, id=f"{file}-{channel}-{template}-{locale}")
    for file, definition in DEFINITION_LIST.items()
    for channel, template in _templates_used(definition)
    for locale in LOCALES
]


class TestValidation:
    @pytest.mark.parametrize("file", sorted(DEFINITION_LIST))
    def test_valid_without_warnings(self, file: str) -> None:
        definition = DEFINITION_LIST[file]
        _, errors, warnings = validate(
            definition.model_dump(mode="json"), _template_exists,
            sms_segments=_sms_segments(definition), sms_segment_limit=SMS_SEGMENT_LIMIT,
        )
        assert errors == []
        assert warnings == []

    @pytest.mark.parametrize("file", sorted(DEFINITION_LIST))
    def test_named_after_its_file_in_every_shipped_locale(self, file: str) -> None:
        definition = DEFINITION_LIST[file]
        assert definition.name == file
        assert definition.locales == list(LOCALES)

    def test_the_four_builtins_ship(self) -> None:
        assert {"hotel_stay", "order_problem", "saas_trial", "lead_nurture"} <= set(DEFINITION_LIST)


class TestTemplates:
    @pytest.mark.parametrize(("definition", "channel", "template", "locale"), RENDER_CASES)
    def test_renders_in_its_own_language(self, definition: SequenceDefinition, channel: Channel,
                                         template: str, locale: str) -> None:
        for data in SAMPLE_DATA.get(definition.name, ({}, {})):
            message = RENDERER.render(channel, template, CONTACTS[locale], data)
            assert message.locale_used == locale  # a real translation, not the English fallback
            assert message.text and "{{" not in message.text and "{%" not in message.text
            assert (message.subject is not None) == (channel == Channel.EMAIL)
            letters = {"ru": CYRILLIC, "hu": HUNGARIAN}.get(locale)
            if letters is not None:
                for text in (message.text, message.subject):
                    assert text is None or letters.search(text), text

    @pytest.mark.parametrize(("definition", "channel", "template", "locale"),
                             [c for c in RENDER_CASES if c.values[1] == Channel.SMS])
    def test_sms_fits_two_segments(self, definition: SequenceDefinition, channel: Channel,
                                   template: str, locale: str) -> None:
        message = RENDERER.render(channel, template, CONTACTS[locale], _full_data(definition))
        assert sms_info(message.text).segments <= SMS_SEGMENT_LIMIT, message.text

    @pytest.mark.parametrize(("definition", "channel", "template", "locale"), RENDER_CASES)
    def test_template_validates(self, definition: SequenceDefinition, channel: Channel,
                                template: str, locale: str) -> None:
        parts = SOURCE.get(channel, template, locale)
        assert parts is not None
        assert validate_template(channel, parts) == []

    def test_dates_are_localized(self) -> None:
        data = SAMPLE_DATA["hotel_stay"][1]
        day_before = datetime(2026, 12, 9, 10, tzinfo=BUDAPEST)
        texts = {loc: RENDERER.render(Channel.EMAIL, "hotel_pre_arrival", CONTACTS[loc], data, now=day_before).text
                 for loc in LOCALES}
        assert "tomorrow, December 10, 2026." in texts["en"]
        # CLDR puts a narrow no-break space (U+202F) before the Russian year abbreviation.
        assert "Завтра, 10 декабря 2026\u202fг., мы будем рады" in texts["ru"]
        assert "Szeretettel várjuk holnap (2026. december 10.) szállodánkban." in texts["hu"]


def _data_read_by_templates(definition: SequenceDefinition) -> set[str]:
    """Every ``data.<key>`` (or ``data["<key>"]``) the definition's templates read, in any
    part and shipped locale, found in the templates' syntax trees."""
    env, found = build_environment(autoescape=False), set()
    for channel, template in _templates_used(definition):
        for locale in LOCALES:
            parts = SOURCE.get(channel, template, locale)
            for source in filter(None, (getattr(parts, part) for part in PARTS) if parts else ()):
                tree = env.parse(source)
                found |= {n.attr for n in tree.find_all(nodes.Getattr)
                          if isinstance(n.node, nodes.Name) and n.node.name == "data"}
                found |= {n.arg.value for n in tree.find_all(nodes.Getitem)
                          if isinstance(n.node, nodes.Name) and n.node.name == "data"
                          and isinstance(n.arg, nodes.Const)}
    return found


def _data_read_by_steps(definition: SequenceDefinition) -> set[str]:
    """Every ``data.<key>`` the steps themselves read: conditions, ``until_date``, ``to_user``."""
    document = definition.model_dump_json(include={"goal", "steps"})
    return set(re.findall(r"\bdata\.([A-Za-z_][A-Za-z0-9_]*)", document))


def _internal_templates() -> set[str]:
    return {step.template for d in DEFINITION_LIST.values() for step in d.steps
            if isinstance(step, SendStep) and step.channel == "internal"}


class TestDocumentedData:
    """The ``data`` a definition documents is exactly what its steps and templates read: no
    documented key is ignored (``shop_name`` that no template used), none read is unexplained."""

    @pytest.mark.parametrize("file", sorted(DEFINITION_LIST))
    def test_documented_is_read_and_read_is_documented(self, file: str) -> None:
        definition = DEFINITION_LIST[file]
        read = _data_read_by_templates(definition) | _data_read_by_steps(definition)
        documented = set(definition.data)
        assert sorted(documented - read) == [], "documented but never read"
        assert sorted(read - documented) == [], "read but not documented"

    @pytest.mark.parametrize("file", sorted(DEFINITION_LIST))
    def test_every_key_is_explained_with_an_example(self, file: str) -> None:
        for key, field in DEFINITION_LIST[file].data.items():
            assert field.description and field.example is not None, key

    @pytest.mark.parametrize("file", sorted(DEFINITION_LIST))
    def test_the_sender_is_company(self, file: str) -> None:
        """One name for the sender: every built-in reads ``data.company``, never a second name."""
        assert "company" in _data_read_by_templates(DEFINITION_LIST[file])


class TestBrand:
    """``FT_BRAND_NAME`` signs every message a contact gets when the enrollment names no sender."""

    BRAND = "Kovács Bolt"
    renderer = Renderer(SOURCE, "en", BRAND)

    @pytest.mark.parametrize(("definition", "channel", "template", "locale"), RENDER_CASES)
    def test_the_brand_signs_every_message(self, definition: SequenceDefinition, channel: Channel,
                                           template: str, locale: str) -> None:
        message = self.renderer.render(channel, template, CONTACTS[locale], SAMPLE_DATA[definition.name][1])
        whole = f"{message.subject or ''}\n{message.text}\n{message.html or ''}"
        assert "Followthrough" not in whole
        if template not in _internal_templates():
            assert self.BRAND in whole, whole

    def test_the_definition_brand_and_the_enrollment_company_come_first(self) -> None:
        contact, data = CONTACTS["hu"], {"order_id": "WS-1"}
        render = self.renderer.render
        assert render(Channel.SMS, "order_problem_apology", contact, data).text.startswith("Kovács Bolt:")
        assert render(Channel.SMS, "order_problem_apology", contact, data,
                      brand="Nordlicht").text.startswith("Nordlicht:")
        assert render(Channel.SMS, "order_problem_apology", contact, {**data, "company": "Aurora"},
                      brand="Nordlicht").text.startswith("Aurora:")


class TestWords:
    """No count of hours or days typed into a built-in: plural forms come from CLDR rules
    (``plural``) and day words from the dates (``relative_day``)."""

    HARD_CODED = re.compile(
        r"\b(\d+|one|two|three|four|five|один|два|две|три|четыре|пять|két|három|négy|öt)"
        r"\s+(hours?|days?|weeks?|час\w*|дн\w*|день|недел\w*|ór\w*|nap\b|napj\w*|napon|hét\w*)",
        re.IGNORECASE,
    )

    @pytest.mark.parametrize("item", FileTemplateSource(PROJECT_ROOT / "templates").load_all(), ids=str)
    def test_no_hard_coded_counts(self, item: tuple[Channel, str, str, Any]) -> None:
        parts = item[3]
        for part in PARTS:
            text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "", getattr(parts, part) or "", flags=re.S)
            assert self.HARD_CODED.findall(text) == [], f"{item[:3]} {part}"

    @pytest.mark.parametrize(("locale", "ack", "alert"), [
        ("en", "within 48 hours.", "Unresolved for 48 hours:"),
        ("ru", "в течение 48 часов.", "Не решено за 48 часов:"),
        ("hu", "48 órán belül", "48 órája megoldatlan"),
    ])
    def test_the_48_hours_are_in_plural_form(self, locale: str, ack: str, alert: str) -> None:
        data = SAMPLE_DATA["order_problem"][0]
        assert ack in RENDERER.render(Channel.EMAIL, "order_problem_ack", CONTACTS[locale], data).text
        subject = RENDERER.render(Channel.EMAIL, "order_problem_escalation", CONTACTS[locale], data).subject
        assert subject is not None and subject.startswith(alert)


class TestHotelWords:
    """The hotel counts days from the dates: a booking made on the day of arrival hears
    "today", never "see you tomorrow"; the arrival SMS is one segment in ru and hu."""

    @staticmethod
    def _sent(start: datetime, locale: str) -> list[RenderedMessage]:
        sent: list[RenderedMessage] = []

        def door(action: Send, ctx: Context) -> None:
            sent.append(RENDERER.render(action.channel, action.template, ctx.contact, ctx.data,
                                        now=ctx.now, brand=action.brand))

        simulate(DEFINITION_LIST["hotel_stay"], start=start, contact=CONTACTS[locale],
                 data=SAMPLE_DATA["hotel_stay"][0], door=door)
        return sent

    @pytest.mark.parametrize(("locale", "subject", "sms"), [
        ("en", "See you today at Aurora Budapest",
         "Aurora Budapest: Hi Anna, we look forward to welcoming you today. Check-in from 14:00. Safe travels!"),
        ("ru", "Aurora Budapest: ждём вас сегодня",
         "Aurora Budapest: ждём вас сегодня, заселение с 14:00. Хорошей дороги!"),
        ("hu", "Ma szeretettel várjuk – Aurora Budapest",
         "Aurora Budapest: ma szeretettel várjuk, bejelentkezés 14:00 órától."),
    ])
    def test_a_same_day_booking_says_today(self, locale: str, subject: str, sms: str) -> None:
        email, arrival = self._sent(datetime(2026, 12, 10, 13, tzinfo=BUDAPEST), locale)[:2]
        assert email.subject == subject
        assert (arrival.channel, arrival.text) == (Channel.SMS, sms)
        for text in (email.text, arrival.text):
            assert not re.search(r"tomorrow|завтра|holnap", text, re.IGNORECASE), text

    @pytest.mark.parametrize(("locale", "subject"), [
        ("en", "See you tomorrow at Aurora Budapest"),
        ("ru", "Aurora Budapest: ждём вас завтра"),
        ("hu", "Holnap szeretettel várjuk – Aurora Budapest"),
    ])
    def test_a_booking_made_ahead_says_tomorrow(self, locale: str, subject: str) -> None:
        assert self._sent(START, locale)[0].subject == subject

    @pytest.mark.parametrize("locale", ["ru", "hu"])
    def test_the_arrival_sms_is_one_segment(self, locale: str) -> None:
        arrival = self._sent(START, locale)[1]
        assert arrival.channel == Channel.SMS
        assert sms_info(arrival.text).segments == 1, arrival.text
        assert "отел" not in arrival.text.lower()  # the hotel's own name says it is a hotel


MARKETING_EMAILS = [
    pytest.param(definition, step.template, locale, id=f"{name}-{step.template}-{locale}")
    for name, definition in DEFINITION_LIST.items()
    for step in definition.steps
    if isinstance(step, SendStep) and step.channel == "email"
    and (step.category or definition.category) == Category.MARKETING
    for locale in LOCALES
]


class TestUnsubscribeLink:
    URL = "https://ft.example.test/u/eyJjIjo3fQ.signature"

    def test_the_built_ins_send_marketing_email(self) -> None:
        assert len(MARKETING_EMAILS) == 5 * len(LOCALES)  # four nurture emails, the hotel's thank-you

    @pytest.mark.parametrize(("definition", "template", "locale"), MARKETING_EMAILS)
    def test_every_marketing_email_shows_the_link(self, definition: SequenceDefinition, template: str,
                                                  locale: str) -> None:
        message = RENDERER.render(Channel.EMAIL, template, CONTACTS[locale], SAMPLE_DATA[definition.name][0],
                                  run={"unsubscribe_url": self.URL})
        line = next(line for line in message.text.splitlines() if self.URL in line)
        words = {"en": "Unsubscribe", "ru": "Отпишитесь", "hu": "leiratkozhat"}[locale]
        assert words in line, line


# --- simulations ---------------------------------------------------------------------------

BUDAPEST_CONTACT = CONTACTS["hu"]


def _local(moment: datetime) -> str:
    return moment.astimezone(BUDAPEST).strftime("%Y-%m-%d %H:%M")


def _describe(item: Planned) -> tuple[Any, ...]:
    """One planned action as a readable row: (local time, kind, step, details...)."""
    action, at = item.action, _local(item.at)
    if isinstance(action, Wait):
        return at, "wait", action.step_id, _local(action.until)
    if isinstance(action, WaitFor):
        return at, "wait_for", action.step_id, action.event, _local(action.until), item.outcome
    if isinstance(action, Note):
        return at, action.type, action.step_id, action.reason
    if isinstance(action, SetValue):
        return at, "set", action.step_id, action.key, action.value
    if isinstance(action, StartDefinition):
        return at, "start", action.step_id, action.definition, dict(action.data)
    if isinstance(action, CreateTask):
        return at, "task", action.step_id, action.describe(), action.priority
    if isinstance(action, End):
        return at, "end", str(action.status), action.reason
    channel = f"internal to user {action.to_user}" if action.to_user is not None else str(action.channel)
    return at, "send", action.step_id, channel, action.template, str(action.category), action.fallbacks


def _plan(name: str, contact: ContactSnapshot = BUDAPEST_CONTACT,
          events: Iterable[tuple[datetime, RunEvent]] = ()) -> list[tuple[Any, ...]]:
    plan, _ = simulate(DEFINITION_LIST[name], start=START, contact=contact,
                       data=SAMPLE_DATA[name][0], events=list(events))
    return [_describe(item) for item in plan]


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=BUDAPEST)


class TestHotelStay:
    def test_without_a_reply(self) -> None:
        assert _plan("hotel_stay") == [
            ("2026-12-07 08:00", "wait", "wait_day_before_arrival", "2026-12-09 10:00"),
            ("2026-12-09 10:00", "send", "pre_arrival_email", "email", "hotel_pre_arrival", "service", ()),
            ("2026-12-09 10:00", "wait", "wait_arrival_morning", "2026-12-10 09:00"),
            ("2026-12-10 09:00", "send", "arrival_sms", "sms", "hotel_arrival_day", "service", ()),
            ("2026-12-10 09:00", "wait", "wait_after_departure", "2026-12-14 11:00"),
            ("2026-12-14 11:00", "send", "thank_you_email", "email", "hotel_thank_you", "marketing", ()),
            ("2026-12-14 11:00", "wait_for", "wait_for_feedback", "reply", "2026-12-19 11:00", "timed out"),
            ("2026-12-19 11:00", "if", "replied", "false -> no_reply"),
            ("2026-12-19 11:00", "end", "completed", "no_reply"),
        ]

    def test_a_reply_goes_to_the_front_desk(self) -> None:
        reply = RunEvent(kind="reply", channel=Channel.EMAIL, data={"text": "Lovely stay!"})
        assert _plan("hotel_stay", events=[(_at(15, 20), reply)])[6:] == [
            ("2026-12-14 11:00", "wait_for", "wait_for_feedback", "reply", "2026-12-19 11:00", "received"),
            ("2026-12-15 20:00", "if", "replied", "true -> tell_front_desk"),
            ("2026-12-15 20:00", "send", "tell_front_desk", "internal to user 7", "hotel_guest_replied", "service", ()),
            ("2026-12-15 20:00", "end", "completed", "guest_replied"),
        ]

    def test_a_cancelled_booking_stops_before_any_message(self) -> None:
        assert _plan("hotel_stay", events=[(_at(8, 12), RunEvent(kind="booking.cancelled"))]) == [
            ("2026-12-07 08:00", "wait", "wait_day_before_arrival", "2026-12-09 10:00"),
            ("2026-12-08 12:00", "end", "stopped", "booking.cancelled"),
        ]


class TestOrderProblem:
    def test_without_a_rep_the_task_is_skipped(self) -> None:
        plan, _ = simulate(DEFINITION_LIST["order_problem"], start=START, contact=BUDAPEST_CONTACT,
                           data=SAMPLE_DATA["order_problem"][1])
        assert [_describe(item) for item in plan][3] == (
            "2026-12-09 08:00", "task", "call_customer", "no_owner: data.rep_id is not set")

    def test_unresolved_after_48_hours(self) -> None:
        assert _plan("order_problem") == [
            ("2026-12-07 08:00", "send", "acknowledge", "email", "order_problem_ack", "transactional", ()),
            ("2026-12-07 08:00", "wait_for", "wait_for_resolution", "order.resolved", "2026-12-09 08:00", "timed out"),
            ("2026-12-09 08:00", "send", "apology", "sms", "order_problem_apology", "service", ("email",)),
            ("2026-12-09 08:00", "task", "call_customer", "call 'Call the customer about their unresolved order "
             "problem' for user 7, due in PT2H working time (owner's zone)", "urgent"),
            ("2026-12-09 08:00", "end", "completed", "unresolved_after_48h"),
        ]

    def test_resolved_in_time_converts(self) -> None:
        assert _plan("order_problem", events=[(_at(8, 15), RunEvent(kind="order.resolved"))]) == [
            ("2026-12-07 08:00", "send", "acknowledge", "email", "order_problem_ack", "transactional", ()),
            ("2026-12-07 08:00", "wait_for", "wait_for_resolution", "order.resolved", "2026-12-09 08:00", "interrupted"),
            ("2026-12-08 15:00", "end", "converted", "goal reached"),
        ]


class TestSaasTrial:
    def test_not_activated_gets_tips_and_variant_b(self) -> None:
        assert _plan("saas_trial") == [
            ("2026-12-07 08:00", "set", "mark_trial", "trial_status", "active"),
            ("2026-12-07 08:00", "send", "welcome_email", "email", "trial_welcome", "service", ()),
            ("2026-12-07 08:00", "wait", "wait_day_2", "2026-12-09 08:00"),
            ("2026-12-09 08:00", "if", "activated", "false -> next step"),
            ("2026-12-09 08:00", "send", "tips_email", "email", "trial_tips", "service", ()),
            ("2026-12-09 08:00", "wait", "wait_day_7", "2026-12-14 08:00"),
            ("2026-12-14 08:00", "split", "checkin_split", "bucket 53 -> checkin_question"),
            ("2026-12-14 08:00", "send", "checkin_question", "email", "trial_checkin_question", "sales", ()),
            ("2026-12-14 08:00", "wait", "wait_day_12", "2026-12-18 17:30"),
            ("2026-12-18 17:30", "wait", "wait_morning", "2026-12-19 09:30"),
            ("2026-12-19 09:30", "send", "trial_ending_email", "email", "trial_ending", "service", ()),
            ("2026-12-19 09:30", "wait", "wait_trial_end", "2026-12-21 09:30"),
            ("2026-12-21 09:30", "set", "mark_expired", "trial_status", "expired"),
            ("2026-12-21 09:30", "end", "completed", "trial_expired"),
        ]

    def test_activated_skips_tips_and_variant_a(self) -> None:
        contact = BUDAPEST_CONTACT.model_copy(update={"id": 4, "attributes": {"activated": True}})
        assert _plan("saas_trial", contact)[3:9] == [
            ("2026-12-09 08:00", "if", "activated", "true -> wait_day_7"),
            ("2026-12-09 08:00", "wait", "wait_day_7", "2026-12-14 08:00"),
            ("2026-12-14 08:00", "split", "checkin_split", "bucket 14 -> checkin_call"),
            ("2026-12-14 08:00", "send", "checkin_call", "email", "trial_checkin_call", "sales", ()),
            ("2026-12-14 08:00", "goto", "after_call_offer", "-> wait_day_12"),
            ("2026-12-14 08:00", "wait", "wait_day_12", "2026-12-18 17:30"),
        ]

    @pytest.mark.parametrize(("enrolled", "ending"), [
        (datetime(2026, 12, 7, 0, 0, tzinfo=BUDAPEST), "2026-12-19 09:30"),
        (datetime(2026, 12, 7, 23, 59, tzinfo=BUDAPEST), "2026-12-19 09:30"),
    ])
    def test_the_ending_notice_is_on_the_morning_of_day_12(self, enrolled: datetime, ending: str) -> None:
        plan, _ = simulate(DEFINITION_LIST["saas_trial"], start=enrolled, contact=BUDAPEST_CONTACT)
        sent = [_local(p.at) for p in plan if getattr(p.action, "template", None) == "trial_ending"]
        assert sent == [ending]

    def test_a_paying_contact_is_converted(self) -> None:
        contact = BUDAPEST_CONTACT.model_copy(update={"attributes": {"plan": "paid"}})
        assert _plan("saas_trial", contact) == [("2026-12-07 08:00", "end", "converted", "goal reached")]

    def test_a_reply_stops_the_emails(self) -> None:
        reply = RunEvent(kind="reply", channel=Channel.EMAIL)
        assert _plan("saas_trial", events=[(_at(8, 9), reply)])[2:] == [
            ("2026-12-07 08:00", "wait", "wait_day_2", "2026-12-09 08:00"),
            ("2026-12-08 09:00", "end", "stopped", "reply (email)"),
        ]


class TestLeadNurture:
    def test_four_weekly_emails_at_ten_then_complete(self) -> None:
        contact = BUDAPEST_CONTACT.model_copy(update={"attributes": {"lead_score": 30}})
        plan = _plan("lead_nurture", contact)
        assert plan[:8] == [
            ("2026-12-07 08:00", "set", "mark_nurturing", "nurture_stage", "nurturing"),
            ("2026-12-07 08:00", "send", "intro_email", "email", "nurture_intro", "marketing", ()),
            ("2026-12-07 08:00", "wait", "next_week", "2026-12-13 20:00"),
            ("2026-12-13 20:00", "wait", "ten_am", "2026-12-14 10:00"),
            ("2026-12-14 10:00", "if", "enough", "false -> next step"),
            ("2026-12-14 10:00", "if", "pick_email", "true -> case_study_email"),
            ("2026-12-14 10:00", "send", "case_study_email", "email", "nurture_case_study", "marketing", ()),
            ("2026-12-14 10:00", "goto", "loop_1", "-> next_week"),
        ]
        assert [(row[0], row[4]) for row in plan if row[1] == "send"] == [
            ("2026-12-07 08:00", "nurture_intro"),
            ("2026-12-14 10:00", "nurture_case_study"),
            ("2026-12-21 10:00", "nurture_guide"),
            ("2026-12-28 10:00", "nurture_demo_offer"),
        ]
        assert plan[-3:] == [
            ("2027-01-04 10:00", "if", "enough", "true -> mark_complete"),
            ("2027-01-04 10:00", "set", "mark_complete", "nurture_stage", "completed"),
            ("2027-01-04 10:00", "end", "completed", "nurture_complete"),
        ]

    @pytest.mark.parametrize("score", [0, 55, 99])
    def test_the_track_neither_decays_nor_hands_off_the_score(self, score: int) -> None:
        """The lead policy scores (with its half-life) and hands a warm lead to sales: whatever
        the score, the track only sends, and sets nothing but its own stage."""
        contact = BUDAPEST_CONTACT.model_copy(update={"attributes": {"lead_score": score}})
        plan = _plan("lead_nurture", contact)
        assert {row[1] for row in plan} == {"set", "send", "wait", "if", "goto", "end"}
        assert [row[2] for row in plan if row[1] == "set"] == ["mark_nurturing", "mark_complete"]
        assert plan[-1] == ("2027-01-04 10:00", "end", "completed", "nurture_complete")

    def test_a_reply_stops_the_track(self) -> None:
        reply = RunEvent(kind="reply", channel=Channel.EMAIL)
        assert _plan("lead_nurture", events=[(_at(10, 14), reply)])[-1] == (
            "2026-12-10 14:00", "end", "stopped", "reply (email)")
