"""The task templates: written for the rep (their language and zone), about the contact (the
contact's zone beside the rep's), with the contact's latest timeline entries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.policy.people_policy import UserRecipient
from followthrough.rendering import FileTemplateSource, Renderer
from followthrough.settings import PROJECT_ROOT

RENDERER = Renderer(FileTemplateSource(PROJECT_ROOT / "templates"), "en")
ANNA = ContactSnapshot(id=2, name="Анна Иванова", phone="+79990001122", locale="ru", time_zone="Europe/Moscow")
#: Sunday 28 March 2027, the first day of summer time in Budapest (UTC+2); Moscow stays UTC+3.
DUE = "2027-03-28T07:00:00+00:00"
TASK = {"id": 7, "kind": "call", "title": "Call back", "note": "ask about delivery", "priority": "normal",
        "state": "open", "contact_id": 2, "due_at": DUE, "contact": "Анна Иванова"}
TIMELINE = [{"occurred_at": datetime(2027, 3, 27, 9, tzinfo=UTC), "kind": "note", "direction": "system",
             "channel": None, "summary": "asked for a discount"}]


REPLY_COMMANDS = {"en": "Reply 1 = done, 2 = snooze.", "ru": "Ответьте 1 = готово, 2 = отложить.",
                  "hu": "Válasz: 1 = kész, 2 = később."}


class TestReminder:
    @pytest.mark.parametrize(("locale", "subject", "due_line", "note"), [
        ("en", "Reminder: Call back at 09:00", "Due: 10:00 in Moscow, 09:00 for you (Sunday, March 28, 2027)",
         "Note: ask about delivery"),
        ("ru", "Напоминание: Call back в 09:00", "Срок: 10:00 (Москва), у вас 09:00 (воскресенье, 28 марта 2027\u202fг.)",
         "Заметка: ask about delivery"),
        ("hu", "Emlékeztető: Call back, 09:00", "Határidő: 10:00 (Moszkva), nálad 09:00 (2027. március 28., vasárnap)",
         "Megjegyzés: ask about delivery"),
    ])
    def test_both_zones_in_the_reps_language_across_the_march_change(
        self, locale: str, subject: str, due_line: str, note: str
    ) -> None:
        message = RENDERER.render(Channel.EMAIL, "task_reminder", ANNA, {"task": TASK},
                                  reader=UserRecipient(id=1, locale=locale, time_zone="Europe/Budapest"), timeline=TIMELINE)
        assert message.locale_used == locale
        assert message.subject == subject
        lines = message.text.splitlines()
        assert due_line in lines and note in lines
        assert lines[1].endswith("Анна Иванова, +79990001122")
        assert lines[-1].endswith(": asked for a discount")

    @pytest.mark.parametrize(("locale", "text"), [
        ("en", "Call back at 09:00 Reply 1 = done, 2 = snooze."),
        ("ru", "Call back в 09:00 Ответьте 1 = готово, 2 = отложить."),
        ("hu", "Call back, 09:00 Válasz: 1 = kész, 2 = később."),
    ])
    def test_a_task_without_a_contact_shows_the_reps_time_only_and_the_reply_commands(
        self, locale: str, text: str
    ) -> None:
        message = RENDERER.render(Channel.SMS, "task_reminder", ContactSnapshot(), {"task": TASK},
                                  reader=UserRecipient(id=1, locale=locale, time_zone="Europe/Budapest"))
        assert message.text == text

    @pytest.mark.parametrize(("locale", "lines"), [
        ("en", ["Done: https://x/a/d", "Snooze for an hour: https://x/a/s", "Open the task: https://x/a/o"]),
        ("ru", ["Выполнено: https://x/a/d", "Отложить на час: https://x/a/s", "Открыть задачу: https://x/a/o"]),
        ("hu", ["Kész: https://x/a/d", "Elhalasztás egy órával: https://x/a/s",
                "A feladat megnyitása: https://x/a/o"]),
    ])
    @pytest.mark.parametrize("template", ["task_reminder", "task_overdue"])
    def test_the_email_ends_with_the_one_click_links(self, locale: str, lines: list[str], template: str) -> None:
        links = {"done": "https://x/a/d", "snooze": "https://x/a/s", "open": "https://x/a/o"}
        reader = UserRecipient(id=1, locale=locale, time_zone="Europe/Budapest")
        message = RENDERER.render(Channel.EMAIL, template, ANNA, {"task": TASK, "links": links}, reader=reader)
        assert message.text.splitlines()[-3:] == lines
        closed = RENDERER.render(Channel.EMAIL, template, ANNA, {"task": TASK}, reader=reader)
        assert "https://x/a/" not in closed.text
        sms = RENDERER.render(Channel.SMS, template, ANNA, {"task": TASK, "links": links}, reader=reader)
        assert sms.text.endswith(REPLY_COMMANDS[locale])


class TestDigest:
    def test_one_line_per_task(self) -> None:
        tasks = [TASK, {**TASK, "title": "Send the quote", "contact": ""}]
        message = RENDERER.render(Channel.EMAIL, "task_overdue_digest", ContactSnapshot(),
                                  {"owner": {"name": "Olga"}, "tasks": tasks},
                                  reader=UserRecipient(id=1, locale="ru", time_zone="Europe/Moscow"))
        assert message.subject == "Olga: 2 просроченные задачи"
        assert message.text.splitlines()[2:] == ["- Call back (28.03.2027, 10:00), Анна Иванова",
                                                 "- Send the quote (28.03.2027, 10:00)"]


class TestAbsenceReport:
    @pytest.mark.parametrize(("locale", "subject", "line"), [
        ("en", "Olga is away: 2 tasks due meanwhile", "- Call back (3/28/27, 10:00\u202fAM), Анна Иванова"),
        ("ru", "Olga отсутствует: 2 задачи на это время", "- Call back (28.03.2027, 10:00), Анна Иванова"),
        ("hu", "Olga távol van: 2 feladat esedékes közben", "- Call back (2027. 03. 28. 10:00), Анна Иванова"),
    ])
    def test_the_tasks_due_during_the_absence_in_the_managers_language_and_zone(
            self, locale: str, subject: str, line: str) -> None:
        tasks = [TASK, {**TASK, "title": "Send the quote", "contact": ""}]
        absence = {"starts_at": "2027-03-27T22:00:00+00:00", "ends_at": "2027-04-03T22:00:00+00:00"}
        data = {"owner": {"name": "Olga"}, "tasks": tasks, "absence": absence}
        reader = UserRecipient(id=1, locale=locale, time_zone="Europe/Moscow")
        email = RENDERER.render(Channel.EMAIL, "absence_report", ContactSnapshot(), data, reader=reader)
        assert email.subject == subject
        assert email.text.splitlines()[2] == line  # the due time in the manager's zone
        sms = RENDERER.render(Channel.SMS, "absence_report", ContactSnapshot(), data, reader=reader)
        assert sms.text.endswith("Call back; Send the quote")
