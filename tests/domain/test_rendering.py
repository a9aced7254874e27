"""Rendering: template sources, locale fallback, the sandbox, validation and shipped templates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from followthrough.errors import FieldError
from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.rendering import (
    ChainTemplateSource,
    FileTemplateSource,
    Renderer,
    RenderError,
    TemplateNotFound,
    TemplateParts,
    fallback_chain,
    normalize_locale,
    preview,
    validate_template,
)
from followthrough.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"
SHIPPED = [
    (Channel.EMAIL, "welcome"),
    (Channel.SMS, "welcome_followup"),
    (Channel.VOICE, "welcome_call"),
]
SAMPLE_CONTACTS = {
    "en": ContactSnapshot(id=1, name="Anna Smith", locale="en", time_zone="America/New_York"),
    "ru": ContactSnapshot(id=2, name="Анна Иванова", locale="ru-RU", time_zone="Europe/Moscow"),
    "hu": ContactSnapshot(id=3, name="Kovács Anna", locale="hu", time_zone="Europe/Budapest"),
}

#: How each shipped template greets the sample contact (en and ru SMS use the first name only;
#: Hungarian puts the family name first, so hu uses the full name unless given_name is set).
OPENINGS = {
    (Channel.EMAIL, "en"): "Hi Anna,\n\nThank you for signing up with Followthrough.",
    (Channel.EMAIL, "ru"): "Здравствуйте, Анна Иванова!\n\nСпасибо за регистрацию в Followthrough.",
    (Channel.EMAIL, "hu"): "Kedves Kovács Anna!\n\nKöszönjük, hogy regisztrált nálunk.",
    (Channel.SMS, "en"): "Hi Anna, thanks for signing up with Followthrough!",
    (Channel.SMS, "ru"): "Followthrough: Анна, спасибо за регистрацию!",
    (Channel.SMS, "hu"): "Followthrough: köszönjük a regisztrációt,",
    (Channel.VOICE, "en"): "Hello Anna, this is Followthrough.",
    (Channel.VOICE, "ru"): "Здравствуйте, Анна Иванова! Вас приветствует Followthrough.",
    (Channel.VOICE, "hu"): "Jó napot kívánok, Kovács Anna! Followthrough ügyfélszolgálatától hívjuk.",
}


class DictSource:
    """An in-memory template source keyed by (channel, name, locale)."""

    def __init__(self, templates: dict[tuple[str, str, str], TemplateParts]) -> None:
        self.templates = templates

    def get(self, channel: str, name: str, locale: str) -> TemplateParts | None:
        return self.templates.get((channel, name, locale))

    def locales(self, channel: str, name: str) -> list[str]:
        return sorted(loc for c, n, loc in self.templates if (c, n) == (channel, name))


def sms_renderer(text: str, locale: str = "en") -> Renderer:
    return Renderer(DictSource({("sms", "t", locale): TemplateParts(text=text)}), "en")


def contact(**fields: object) -> ContactSnapshot:
    return ContactSnapshot(**{"name": "Anna Smith", **fields})  # type: ignore[arg-type]


class TestFallbackChain:
    @pytest.mark.parametrize(
        ("locale", "default", "expected"),
        [
            ("ru-RU", "en", ["ru-RU", "ru", "en"]),
            ("ru_ru", "en", ["ru-RU", "ru", "en"]),
            ("fr", "en", ["fr", "en"]),
            ("en-GB", "en", ["en-GB", "en"]),
            ("en", "en", ["en"]),
            ("", "en", ["en"]),
            ("zh_hant_tw", "en-US", ["zh-Hant-TW", "zh-Hant", "zh", "en-US", "en"]),
        ],
    )
    def test_chain(self, locale: str, default: str, expected: list[str]) -> None:
        assert fallback_chain(locale, default) == expected

    @pytest.mark.parametrize(
        ("tag", "expected"), [("HU", "hu"), ("pt_br", "pt-BR"), ("es-419", "es-419"), (" ", "")]
    )
    def test_normalize(self, tag: str, expected: str) -> None:
        assert normalize_locale(tag) == expected


class TestRendererLocale:
    source = DictSource(
        {
            ("sms", "hello", "en"): TemplateParts(text="Hello {{ contact.name }}"),
            ("sms", "hello", "ru"): TemplateParts(text="Привет, {{ contact.name }}"),
        }
    )

    @pytest.mark.parametrize(
        ("locale", "used", "text"),
        [
            ("ru-RU", "ru", "Привет, Anna Smith"),
            ("ru", "ru", "Привет, Anna Smith"),
            ("fr", "en", "Hello Anna Smith"),
            ("en-GB", "en", "Hello Anna Smith"),
        ],
    )
    def test_fallback(self, locale: str, used: str, text: str) -> None:
        message = Renderer(self.source, "en").render("sms", "hello", contact(locale=locale))
        assert (message.channel, message.name, message.locale_used) == (Channel.SMS, "hello", used)
        assert (message.text, message.subject, message.html) == (text, None, None)

    def test_missing_everywhere_names_the_locales_tried(self) -> None:
        with pytest.raises(TemplateNotFound) as caught:
            Renderer(self.source, "en").render("email", "hello", contact(locale="ru-RU"))
        assert caught.value.message == "template email/hello not found for locales ru-RU, ru, en"

    def test_missing_required_part(self) -> None:
        renderer = Renderer(DictSource({("email", "t", "en"): TemplateParts(text="x")}), "en")
        with pytest.raises(RenderError) as caught:
            renderer.render("email", "t", contact())
        assert caught.value.message == "email/t.en: required part 'subject' is missing"

    def test_context_has_contact_data_and_run(self) -> None:
        text = "{{ contact.id }} {{ contact.email }} {{ data.plan }} {{ run.id }}"
        message = sms_renderer(text).render(
            "sms", "t", contact(id=7, email="a@example.test"), {"plan": "pro"}, {"id": 42}
        )
        assert message.text == "7 a@example.test pro 42"

    def test_compiles_each_source_once(self) -> None:
        renderer = sms_renderer("Hi {{ contact.name }}")
        for name in ("Anna", "Béla", "Иван"):
            renderer.render("sms", "t", contact(name=name))
        info = renderer._compile.cache_info()
        assert (info.misses, info.hits) == (1, 2)


class TestStrictUndefined:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("{{ data.order_id }}", "'dict object' has no attribute 'order_id'"),
            ("{{ customer }}", "'customer' is undefined"),
            ("a\nb\n{{ contact.nickname }}", "'dict object' has no attribute 'nickname'"),
            ("{{ data.due | format_date }}", "'dict object' has no attribute 'due'"),
        ],
    )
    def test_undefined_name_fails_with_its_name(self, text: str, message: str) -> None:
        with pytest.raises(RenderError) as caught:
            sms_renderer(text).render("sms", "t", contact())
        line = text.count("\n") + 1
        assert caught.value.message == f"sms/t.en text: line {line}: UndefinedError: {message}"

    @pytest.mark.parametrize(
        "text",
        [
            "{{ data.plan | default('basic') }}",
            "{{ data.get('plan', 'basic') }}",
            "{% if data.plan is defined %}{{ data.plan }}{% else %}basic{% endif %}",
        ],
    )
    def test_defaults_render_with_empty_data(self, text: str) -> None:
        assert sms_renderer(text).render("sms", "t", contact(), {}).text == "basic"


class TestAutoescape:
    name = "<script>alert(1)</script> Bob & Co"
    parts = TemplateParts(
        subject="Hi {{ contact.name }}\n",
        text="Hi {{ contact.name }}",
        html="<p>Hi {{ contact.name }}</p>",
    )

    def test_html_escaped_text_and_subject_verbatim(self) -> None:
        renderer = Renderer(DictSource({("email", "t", "en"): self.parts}), "en")
        message = renderer.render("email", "t", contact(name=self.name))
        assert message.html == "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt; Bob &amp; Co</p>"
        assert message.text == f"Hi {self.name}"
        assert message.subject == f"Hi {self.name}"

    def test_subject_is_one_line(self) -> None:
        renderer = Renderer(DictSource({("email", "t", "en"): self.parts}), "en")
        message = renderer.render("email", "t", contact(name="Eve\r\nBcc: x@example.test"))
        assert message.subject == "Hi Eve Bcc: x@example.test"


class TestSandbox:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                "{{ contact.__class__ }}",
                "SecurityError: access to attribute '__class__' of 'dict' object is unsafe.",
            ),
            (
                "{{ ''.__class__.__mro__ }}",
                "SecurityError: access to attribute '__class__' of 'str' object is unsafe.",
            ),
            (
                "{{ data.update({'plan': 'free'}) }}",
                "SecurityError: access to attribute 'update' of 'dict' object is unsafe.",
            ),
            (
                "{{ range(10**6) | list }}",
                "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE"
                " (100000).",
            ),
        ],
    )
    def test_violation_is_a_render_error(self, text: str, message: str) -> None:
        data = {"plan": "pro"}
        with pytest.raises(RenderError) as caught:
            sms_renderer(text).render("sms", "t", contact(), data)
        assert caught.value.message == f"sms/t.en text: line 1: {message}"
        assert data == {"plan": "pro"}

    def test_lipsum_is_not_available(self) -> None:
        with pytest.raises(RenderError) as caught:
            sms_renderer("{{ lipsum(1000) }}").render("sms", "t", contact())
        assert caught.value.message == (
            "sms/t.en text: line 1: UndefinedError: 'lipsum' is undefined"
        )


class TestFilters:
    @pytest.mark.parametrize(
        ("locale", "zone", "text", "expected"),
        [
            # 22:30 UTC is already the next day in Moscow (UTC+3).
            (
                "ru-RU",
                "Europe/Moscow",
                "{{ data.at | format_date('long') }}",
                "6 марта 2024\u202fг.",
            ),
            ("en", "UTC", "{{ data.at | format_date('long') }}", "March 5, 2024"),
            ("hu", "Europe/Budapest", "{{ data.at | format_date('long') }}", "2024. március 5."),
            ("en", "America/New_York", "{{ data.day | format_date }}", "Apr 1, 2024"),
            ("ru", "Europe/Moscow", "{{ data.at | format_datetime('HH:mm') }}", "01:30"),
            ("en", "Not/AZone", "{{ data.at | format_datetime('HH:mm') }}", "22:30"),
            ("fr", "UTC", "{{ data.at | format_date('long') }}", "March 5, 2024"),
        ],
    )
    def test_dates_follow_locale_and_zone(
        self, locale: str, zone: str, text: str, expected: str
    ) -> None:
        renderer = Renderer(
            DictSource({("sms", "t", loc): TemplateParts(text=text) for loc in ("en", "ru", "hu")}),
            "en",
        )
        data = {"at": "2024-03-05T22:30:00+00:00", "day": "2024-04-01"}
        message = renderer.render("sms", "t", contact(locale=locale, time_zone=zone), data)
        assert message.text == expected

    @pytest.mark.parametrize(
        ("name", "expected"), [("Anna Smith", "Anna"), ("  Иван  ", "Иван"), ("", "")]
    )
    def test_first_name(self, name: str, expected: str) -> None:
        rendered = sms_renderer("{{ contact.name | first_name }}").render(
            "sms", "t", contact(name=name)
        )
        assert rendered.text == expected

    @pytest.mark.parametrize(("fields", "first", "formal"), [
        ({"name": "Иванова Анна", "given_name": "Анна"}, "Анна", "Анна"),  # surname first
        ({"name": "Kovács Anna"}, "Kovács", "Kovács Anna"),  # no parts: never a guessed word
        ({"name": "Kovács Anna", "given_name": ""}, "Kovács", "Kovács Anna"),
        ({"name": "", "given_name": None}, "", ""),
    ])
    def test_greetings_prefer_the_given_name(self, fields: dict, first: str, formal: str) -> None:
        rendered = sms_renderer("{{ contact | first_name }}|{{ contact | salutation }}").render(
            "sms", "t", contact(**fields))
        assert rendered.text == f"{first}|{formal}"

    def test_the_shipped_greetings_use_the_given_name(self) -> None:
        renderer = Renderer(FileTemplateSource(TEMPLATES), "en")
        anna = {"name": "Иванова Анна", "given_name": "Анна", "family_name": "Иванова"}
        ru = renderer.render("email", "welcome", contact(locale="ru", **anna))
        hu = renderer.render("email", "welcome", contact(locale="hu", name="Kovács Anna", given_name="Anna"))
        assert ru.text.startswith("Здравствуйте, Анна!\n")
        assert hu.text.startswith("Kedves Anna!\n")

    def test_format_date_rejects_a_number(self) -> None:
        with pytest.raises(RenderError) as caught:
            sms_renderer("{{ 5 | format_date }}").render("sms", "t", contact())
        assert caught.value.message == (
            "sms/t.en text: line 1: TypeError: expected a date, datetime or ISO-8601 string, not int"
        )


class TestRelativeDay:
    """Day words counted from the run's clock in the contact's zone: never "tomorrow" on the day."""

    NOW = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 00:30 on 11 June in Moscow

    @pytest.mark.parametrize(("locale", "zone", "day", "expected"), [
        ("en", "UTC", "2026-06-10", "today"),
        ("en", "UTC", "2026-06-11", "tomorrow"),
        ("en", "UTC", "2026-06-13", "in 3 days"),
        ("en", "UTC", "2026-06-24", "in 14 days"),
        ("ru-RU", "Europe/Moscow", "2026-06-11", "сегодня"),  # already the 11th in Moscow
        ("ru-RU", "Europe/Moscow", "2026-06-12", "завтра"),
        ("ru-RU", "Europe/Moscow", "2026-06-13", "послезавтра"),
        ("ru-RU", "Europe/Moscow", "2026-06-16", "через 5 дней"),
        ("hu", "Europe/Budapest", "2026-06-10", "ma"),
        ("hu", "Europe/Budapest", "2026-06-11", "holnap"),
        ("hu", "Europe/Budapest", "2026-06-14", "4 nap múlva"),
        ("en", "UTC", "2026-06-08", "2 days ago"),
        ("ru-RU", "UTC", 2, "послезавтра"),  # a count of days from the send's day
        ("hu", "UTC", -2, "2 nappal ezelőtt"),
        ("en", "UTC", 0, "today"),
    ])
    def test_words_for_the_day(self, locale: str, zone: str, day: str | int, expected: str) -> None:
        renderer = Renderer(DictSource({("sms", "t", loc): TemplateParts(text="{{ data.day | relative_day }}")
                                        for loc in ("en", "ru", "hu")}), "en")
        message = renderer.render("sms", "t", contact(locale=locale, time_zone=zone), {"day": day}, now=self.NOW)
        assert message.text == expected


class TestBrand:
    """One sender name: the enrollment's ``company``, else the definition's, else the setting's."""

    renderer = sms_renderer("{{ data.company }}")

    @pytest.mark.parametrize(("data", "brand", "expected"), [
        ({}, None, "Followthrough"),  # the renderer's default: FT_BRAND_NAME's default
        ({}, "Nordlicht", "Nordlicht"),
        ({"company": "Aurora"}, "Nordlicht", "Aurora"),
        ({"company": ""}, "Nordlicht", "Nordlicht"),  # blank is no name
    ])
    def test_precedence(self, data: dict, brand: str | None, expected: str) -> None:
        assert self.renderer.render("sms", "t", contact(), data, brand=brand).text == expected

    def test_the_renderer_brand_is_the_setting(self) -> None:
        renderer = Renderer(DictSource({("sms", "t", "en"): TemplateParts(text="{{ data.company }}")}), "en",
                            "Kovács Bolt")
        assert renderer.render("sms", "t", contact()).text == "Kovács Bolt"


class TestPlural:
    @pytest.mark.parametrize(("locale", "count", "expected"), [
        ("ru", 1, "1 день"), ("ru", 2, "2 дня"), ("ru", 5, "5 дней"), ("ru", 21, "21 день"),
        ("ru", 22, "22 дня"), ("ru", 11, "11 дней"), ("ru", 1000, "1\xa0000 дней"),
        ("hu", 1, "1 nap"), ("hu", 2, "2 nap"),
        ("en", 1, "1 day"), ("en", 2, "2 days"),
    ])
    def test_cldr_forms(self, locale: str, count: int, expected: str) -> None:
        texts = {"ru": '{{ data.n | plural("день", few="дня", many="дней") }}',
                 "hu": '{{ data.n | plural("nap") }}', "en": '{{ data.n | plural("day", "days") }}'}
        renderer = Renderer(DictSource({("sms", "t", loc): TemplateParts(text=text) for loc, text in texts.items()}), "en")
        assert renderer.render("sms", "t", contact(locale=locale), {"n": count}).text == expected

    def test_the_word_alone(self) -> None:
        rendered = sms_renderer('{{ 48 | plural("hour", "hours", number=false) }}').render("sms", "t", contact())
        assert rendered.text == "hours"


class TestValidateTemplate:
    def test_reports_every_problem_with_its_path(self) -> None:
        parts = TemplateParts(
            subject=None,
            text="Hi {{ contact.name }}\n{% if %}",
            html="<p>{{ customer.name }} {{ order }}</p>",
        )
        assert validate_template("email", parts) == [
            FieldError("/subject", "required for email templates"),
            FieldError("/text", "line 2: Expected an expression, got 'end of statement block'"),
            FieldError("/html", "unknown name 'customer' (use contact, data or run)"),
            FieldError("/html", "unknown name 'order' (use contact, data or run)"),
        ]

    @pytest.mark.parametrize(
        ("channel", "parts", "expected"),
        [
            (
                "sms",
                TemplateParts(text="{{ contact.name | shout }}"),
                [FieldError("/text", "line 1: No filter named 'shout'.")],
            ),
            (
                "sms",
                TemplateParts(subject="Hi", text="Hi"),
                [FieldError("/subject", "not used by sms templates")],
            ),
            (
                "voice",
                TemplateParts(text=""),
                [FieldError("/text", "required for voice templates")],
            ),
            (
                "email",
                TemplateParts(subject="{{ contact.name }}", text="{{ data.x | default('y') }}"),
                [],
            ),
            (
                "sms",
                TemplateParts(
                    text="{% set n = namespace(k=1) %}{% for i in range(2) %}{{ i }}{% endfor %}"
                ),
                [],
            ),
        ],
    )
    def test_cases(self, channel: str, parts: TemplateParts, expected: list[FieldError]) -> None:
        assert validate_template(channel, parts) == expected


class TestFileTemplateSource:
    def test_reads_parts_of_one_locale(self) -> None:
        parts = FileTemplateSource(TEMPLATES).get(Channel.EMAIL, "welcome", "ru")
        assert parts is not None
        assert (
            parts.subject == "Добро пожаловать в {{ data.company }}!\n"
        )
        assert parts.text is not None and parts.text.startswith("{% set company")
        assert parts.html is not None and parts.html.startswith("{% set company")

    @pytest.mark.parametrize(
        ("channel", "name", "locale"),
        [("email", "welcome", "fr"), ("email", "../email/welcome", "en"), ("sms", "x", "../..")],
    )
    def test_absent_or_unsafe_is_none(self, channel: str, name: str, locale: str) -> None:
        assert FileTemplateSource(TEMPLATES).get(Channel(channel), name, locale) is None

    def test_locales(self) -> None:
        source = FileTemplateSource(TEMPLATES)
        assert source.locales(Channel.EMAIL, "welcome") == ["en", "hu", "ru"]
        assert source.locales(Channel.SMS, "welcome") == []

    def test_load_all_groups_parts(self, tmp_path: Path) -> None:
        (tmp_path / "sms").mkdir()
        (tmp_path / "email").mkdir()
        (tmp_path / "sms" / "ping.pt-BR.text.j2").write_text("Oi", encoding="utf-8")
        (tmp_path / "email" / "a.en.subject.j2").write_text("S", encoding="utf-8")
        (tmp_path / "email" / "a.en.text.j2").write_text("T", encoding="utf-8")
        (tmp_path / "email" / "notes.txt").write_text("ignored", encoding="utf-8")
        (tmp_path / "email" / "a.en.footer.j2").write_text("ignored", encoding="utf-8")
        assert FileTemplateSource(tmp_path).load_all() == [
            (Channel.EMAIL, "a", "en", TemplateParts(subject="S", text="T")),
            (Channel.SMS, "ping", "pt-BR", TemplateParts(text="Oi")),
        ]

    def test_load_all_covers_every_shipped_file(self) -> None:
        loaded = FileTemplateSource(TEMPLATES).load_all()
        # Message templates live in one folder per channel (pages/ holds web pages, not messages).
        files = sorted(
            p.relative_to(TEMPLATES).as_posix()
            for channel in Channel for p in (TEMPLATES / channel.value).glob("*.j2")
        )
        from_loaded = sorted(
            f"{channel}/{name}.{locale}.{part}.j2"
            for channel, name, locale, parts in loaded
            for part, text in parts.model_dump().items()
            if text is not None
        )
        assert from_loaded == files


class TestChainTemplateSource:
    first = DictSource(
        {
            ("sms", "t", "en"): TemplateParts(text="db"),
            ("sms", "t", "hu"): TemplateParts(text="db hu"),
        }
    )
    second = DictSource(
        {
            ("sms", "t", "en"): TemplateParts(text="file"),
            ("sms", "t", "ru"): TemplateParts(text="file ru"),
        }
    )

    @pytest.mark.parametrize(
        ("locale", "expected"), [("en", "db"), ("ru", "file ru"), ("fr", None)]
    )
    def test_first_source_wins(self, locale: str, expected: str | None) -> None:
        parts = ChainTemplateSource(self.first, self.second).get(Channel.SMS, "t", locale)
        assert (parts.text if parts else None) == expected

    def test_locales_union_in_order(self) -> None:
        chain = ChainTemplateSource(self.first, self.second)
        assert chain.locales(Channel.SMS, "t") == ["en", "hu", "ru"]


class TestShippedTemplates:
    renderer = Renderer(FileTemplateSource(TEMPLATES), "en")

    @pytest.mark.parametrize("locale", ["en", "ru", "hu"])
    @pytest.mark.parametrize(("channel", "name"), SHIPPED)
    def test_renders_with_empty_data(self, channel: Channel, name: str, locale: str) -> None:
        message = self.renderer.render(channel, name, SAMPLE_CONTACTS[locale], {})
        assert message.locale_used == locale
        assert message.text.startswith(OPENINGS[channel, locale])
        assert "{{" not in message.text and "{%" not in message.text
        if channel is Channel.EMAIL:
            assert message.subject and message.html is not None
            assert message.html.startswith(f'<!DOCTYPE html>\n<html lang="{locale}">\n')
            assert message.html.endswith("</body>\n</html>")
        else:
            assert (message.subject, message.html) == (None, None)

    @pytest.mark.parametrize(("locale", "ends", "subject", "sentence"), [
        ("en", "2026-06-10", "Your Followthrough trial ends today", "Your free Followthrough trial ends today, on June 10, 2026."),
        ("ru", "2026-06-11", "Пробный период Followthrough закончится завтра",
         "Ваш бесплатный пробный период Followthrough закончится завтра (11 июня 2026\u202fг.)."),
        ("hu", "2026-06-13", "3 nap múlva lejár a próbaidőszaka – Followthrough",
         "Az Ön ingyenes próbaidőszaka 3 nap múlva lejár (utolsó nap: 2026. június 13.)."),
    ])
    def test_the_trial_end_is_said_from_the_dates(self, locale: str, ends: str, subject: str, sentence: str) -> None:
        """A late enrollment never says "in two days" when the trial ends today; no «г..»."""
        message = self.renderer.render(Channel.EMAIL, "trial_ending", SAMPLE_CONTACTS[locale],
                                       {"trial_ends_on": ends}, now=datetime(2026, 6, 10, 8, tzinfo=UTC))
        assert message.subject == subject
        assert sentence in message.text and ".." not in message.text

    @pytest.mark.parametrize(("channel", "name"), SHIPPED)
    def test_russian_is_cyrillic(self, channel: Channel, name: str) -> None:
        message = self.renderer.render(channel, name, SAMPLE_CONTACTS["ru"], {})
        for text in filter(None, (message.subject, message.text)):
            letters = re.findall(r"[^\W\d_]", text.replace("Followthrough", ""))
            assert letters and all("\u0400" <= ch <= "\u04ff" for ch in letters), text

    @pytest.mark.parametrize(
        ("locale", "encoding", "segments"),
        [("en", "GSM-7", 1), ("ru", "UCS-2", 1), ("hu", "UCS-2", 1)],
    )
    def test_sms_fits_one_segment(self, locale: str, encoding: str, segments: int) -> None:
        result = preview(self.renderer, "sms", "welcome_followup", SAMPLE_CONTACTS[locale], {})
        assert result.sms is not None
        assert (result.sms.encoding, result.sms.segments) == (encoding, segments)
        assert result.sms.characters == len(result.message.text)

    def test_data_fills_optional_parts(self) -> None:
        data = {"company": "Acme & Sons", "login_url": "https://app.example.test/?a=1&b=2"}
        message = self.renderer.render("email", "welcome", SAMPLE_CONTACTS["en"], data)
        assert message.subject == "Welcome to Acme & Sons, Anna!"
        assert (
            "You can sign in to your account here: https://app.example.test/?a=1&b=2\n"
            in message.text
        )
        assert '<a href="https://app.example.test/?a=1&amp;b=2">' in (message.html or "")
        assert "The Acme &amp; Sons team" in (message.html or "")

    @pytest.mark.parametrize("item", FileTemplateSource(TEMPLATES).load_all(), ids=str)
    def test_every_shipped_template_validates(self, item: tuple) -> None:
        channel, _name, _locale, parts = item
        assert validate_template(channel, parts) == []


class TestPreview:
    renderer = Renderer(FileTemplateSource(TEMPLATES), "en")

    def test_email_has_no_sms_stats(self) -> None:
        result = preview(self.renderer, "email", "welcome", SAMPLE_CONTACTS["hu"], {})
        assert (result.message.locale_used, result.sms) == ("hu", None)

    def test_draft_parts_render_in_the_contact_locale(self) -> None:
        draft = TemplateParts(text="Szia {{ contact.name }}! Ő ű")
        result = preview(self.renderer, "sms", draft, SAMPLE_CONTACTS["hu"], {})
        assert (result.message.name, result.message.locale_used) == ("draft", "hu")
        assert result.message.text == "Szia Kovács Anna! Ő ű"
        assert result.sms is not None
        assert (result.sms.encoding, result.sms.characters, result.sms.segments) == ("UCS-2", 21, 1)
