"""Message templates: sources, sandboxed Jinja2 rendering with locale fallback, validation.

Templates are admin-authored data, so they render in an immutable sandbox with ``StrictUndefined``
(a typo fails loudly instead of sending "Hello ,"); only the html part is autoescaped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, pass_context
from jinja2.runtime import Context
from pydantic import BaseModel

from followthrough.dsl import sandbox
from followthrough.dsl.sandbox import BoundedSandbox
from followthrough.errors import FieldError, FollowthroughError
from followthrough.models.contact import ContactSnapshot
from followthrough.models.vocab import Channel
from followthrough.sms_encoding import sms_info

PARTS = ("subject", "text", "html")
#: The parts each channel uses, mapped to whether they are required.
CHANNEL_PARTS: dict[Channel, dict[str, bool]] = {
    Channel.EMAIL: {"subject": True, "text": True, "html": False},
    Channel.SMS: {"text": True},
    Channel.VOICE: {"text": True},
}
CONTEXT_NAMES = frozenset({"contact", "data", "run"})
#: The enrollment data key that names the sender (the brand the contact knows).
BRAND_KEY = "company"

# Hidden context entries read by the formatting filters (filters are bound per environment,
# so per-render settings have to travel in the context).
_LOCALE_VAR, _TZ_VAR, _NOW_VAR = "__ft_locale", "__ft_time_zone", "__ft_now"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class TemplateError(FollowthroughError):
    status_code = 422
    code = "template_error"


class TemplateNotFound(TemplateError):
    status_code = 404
    code = "template_not_found"


class RenderError(TemplateError):
    code = "render_failed"


class TemplateParts(BaseModel):
    subject: str | None = None
    text: str | None = None
    html: str | None = None


class RenderedMessage(BaseModel):
    channel: Channel
    name: str
    locale_used: str
    subject: str | None = None
    text: str
    html: str | None = None


class TemplateSource(Protocol):
    """Where templates come from (files, the database, a chain of both)."""

    def get(self, channel: Channel, name: str, locale: str) -> TemplateParts | None: ...

    def locales(self, channel: Channel, name: str) -> list[str]: ...


def normalize_locale(tag: str) -> str:
    """Canonical BCP 47 casing with hyphens: ``ru_ru`` -> ``ru-RU``, ``zh_hant`` -> ``zh-Hant``."""
    lang, *rest = tag.strip().replace("_", "-").split("-")
    subtags = [s.title() if len(s) == 4 else s.upper() if len(s) == 2 else s for s in rest if s]
    return "-".join([lang.lower(), *subtags]) if lang else ""


def fallback_chain(locale: str, default_locale: str) -> list[str]:
    """Locales to try in order: ``ru-RU`` -> ``ru`` -> the default (and its parents), deduped."""
    chain: list[str] = []
    for tag in (normalize_locale(locale), normalize_locale(default_locale)):
        pieces = tag.split("-") if tag else []
        for end in range(len(pieces), 0, -1):
            if (candidate := "-".join(pieces[:end])) not in chain:
                chain.append(candidate)
    return chain


class FileTemplateSource:
    """Templates stored as ``<root>/<channel>/<name>.<locale>.<part>.j2``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def get(self, channel: Channel, name: str, locale: str) -> TemplateParts | None:
        """Read the parts of one template, or ``None`` when no part file exists."""
        # Names and locales end up in a path: refuse anything that could leave the root.
        if not (_NAME_RE.match(name) and _LOCALE_RE.match(locale)):
            return None
        folder = self.root / Channel(channel).value
        found = {
            part: path.read_text(encoding="utf-8")
            for part in PARTS
            if (path := folder / f"{name}.{locale}.{part}.j2").is_file()
        }
        return TemplateParts(**found) if found else None

    def locales(self, channel: Channel, name: str) -> list[str]:
        """Every locale that has at least one part of this template."""
        return sorted({loc for n, loc, _, _ in self._scan(Channel(channel)) if n == name})

    def load_all(self) -> list[tuple[Channel, str, str, TemplateParts]]:
        """Every template under the root, sorted, for seeding the database."""
        grouped: dict[tuple[Channel, str, str], dict[str, str]] = {}
        for channel in Channel:
            for name, locale, part, path in self._scan(channel):
                text = path.read_text(encoding="utf-8")
                grouped.setdefault((channel, name, locale), {})[part] = text
        return [(c, n, loc, TemplateParts(**p)) for (c, n, loc), p in sorted(grouped.items())]

    def _scan(self, channel: Channel) -> list[tuple[str, str, str, Path]]:
        folder = self.root / channel.value
        found = []
        for path in sorted(folder.glob("*.j2")) if folder.is_dir() else []:
            pieces = path.name.removesuffix(".j2").split(".")
            if len(pieces) != 3:
                continue
            name, locale, part = pieces
            if part in PARTS and _NAME_RE.match(name) and _LOCALE_RE.match(locale):
                found.append((name, locale, part, path))
        return found


class ChainTemplateSource:
    """Asks each source in turn; the first that has the template wins (e.g. database, files)."""

    def __init__(self, *sources: TemplateSource) -> None:
        self.sources = sources

    def get(self, channel: Channel, name: str, locale: str) -> TemplateParts | None:
        """The first source's parts for exactly this locale, or ``None``."""
        for source in self.sources:
            if (parts := source.get(channel, name, locale)) is not None:
                return parts
        return None

    def locales(self, channel: Channel, name: str) -> list[str]:
        """The union of every source's locales, in first-seen order."""
        seen: dict[str, None] = {}
        for source in self.sources:
            seen.update(dict.fromkeys(source.locales(channel, name)))
        return list(seen)


def _localized(context: Context, value: Any) -> tuple[datetime, Locale]:
    """The value as an aware datetime in the contact's zone, and the babel locale to format in."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises here, naming the missing variable
    if isinstance(value, str):
        # Workflow data crosses Temporal as JSON, so dates usually arrive as ISO-8601 strings.
        value = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    try:
        zone: tzinfo = ZoneInfo(context[_TZ_VAR])
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC  # a bad zone on a contact must not block the message; UTC is what we store
    if isinstance(value, datetime):
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(), tzinfo=zone)  # a calendar day: no zone shift
    else:
        raise TypeError(f"expected a date, datetime or ISO-8601 string, not {type(value).__name__}")
    return moment, _locale_of(context)


@pass_context
def format_date(context: Context, value: Any, format: str = "medium") -> str:
    """A date in the contact's language and time zone (``short|medium|long|full`` or a pattern)."""
    moment, locale = _localized(context, value)
    return babel_dates.format_date(moment.date(), format, locale=locale)


@pass_context
def format_datetime(context: Context, value: Any, format: str = "medium") -> str:
    """A timestamp in the contact's language and time zone (naive values are taken as UTC)."""
    moment, locale = _localized(context, value)
    return babel_dates.format_datetime(moment, format, locale=locale)


#: CLDR's names for today, tomorrow and the day after, which babel's data does not carry; other
#: days, and other languages, come from babel ("через 3 дня", "3 nap múlva", "in 3 days").
_RELATIVE_DAYS: dict[str, tuple[str, ...]] = {
    "en": ("today", "tomorrow"),
    "ru": ("сегодня", "завтра", "послезавтра"),
    "hu": ("ma", "holnap", "holnapután"),
}


def _today(context: Context, zone: tzinfo | None) -> date:
    """The send's day in the contact's zone: the run's clock when the door asked (or the
    preview's simulated one), else now."""
    now = context.get(_NOW_VAR) or datetime.now(UTC)
    return now.astimezone(zone).date()


@pass_context
def relative_day(context: Context, value: Any) -> str:
    """How far a date is from the day the message goes out, in words of the contact's language:
    ``today`` / ``tomorrow`` / ``in 3 days`` (``сегодня`` / ``завтра`` / ``через 3 дня``), so a
    late enrollment never says "see you tomorrow" on the day itself. An integer is a count of
    days from that day: ``2 | relative_day`` -> "in 2 days", ``-2 | relative_day`` -> "2 days ago"."""
    if isinstance(value, int) and not isinstance(value, bool):
        days, locale = value, _locale_of(context)
    else:
        moment, locale = _localized(context, value)
        days = (moment.date() - _today(context, moment.tzinfo)).days
    words = _RELATIVE_DAYS.get(locale.language, ())
    if 0 <= days < len(words):
        return words[days]
    # A high threshold keeps days as days ("in 14 days", not "in 2 weeks").
    return babel_dates.format_timedelta(timedelta(days=days), granularity="day", threshold=1000,
                                        add_direction=True, locale=locale)


@pass_context
def plural(context: Context, count: Any, one: str, other: str | None = None, *, few: str | None = None,
           many: str | None = None, two: str | None = None, zero: str | None = None,
           number: bool = True) -> str:
    """``count`` with the word in the form its language's CLDR plural rules ask for:
    ``{{ n | plural("день", few="дня", many="дней") }}`` -> "1 день", "2 дня", "5 дней";
    ``{{ n | plural("nap") }}`` -> "2 nap"; ``number=false`` gives the word alone."""
    locale = _locale_of(context)
    forms = {"one": one, "two": two, "few": few, "many": many, "zero": zero, "other": other}
    category = locale.plural_form(abs(count))
    word = forms.get(category) or other or many or one
    if not number:
        return word
    return f"{babel_numbers.format_decimal(count, locale=locale)} {word}"


def _locale_of(context: Context) -> Locale:
    try:
        return Locale.parse(context[_LOCALE_VAR], sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def first_name(value: Any) -> str:
    """Whom an informal greeting names: ``contact | first_name`` is the contact's ``given_name``,
    else the first word of ``name``; a string gives its first word. The first word is wrong where
    the family name comes first (hu, often ru): set ``given_name`` for those contacts."""
    if isinstance(value, Mapping):
        if value.get("given_name"):
            return str(value["given_name"])
        value = value.get("name")
    words = str(value or "").split()
    return words[0] if words else ""


def salutation(contact: Any) -> str:
    """Whom a formal greeting names (``Kedves {{ contact | salutation }}!``): the contact's
    ``given_name`` when known, else the whole display name, which is never cut at a guessed
    word boundary."""
    if isinstance(contact, Mapping):
        return str(contact.get("given_name") or contact.get("name") or "")
    return str(contact or "")


FILTERS: dict[str, Callable[..., Any]] = {
    "format_date": format_date, "format_datetime": format_datetime, "first_name": first_name,
    "salutation": salutation, "relative_day": relative_day, "plural": plural,
}


def build_environment(*, autoescape: bool) -> BoundedSandbox:
    """The sandbox every template renders in: strict, immutable, bounded, with our filters."""
    # Immutable: a template must not mutate the caller's data (``data.update(...)``). Bounded:
    # no part renders more than 256 KiB or runs more than sandbox.MAX_OPERATIONS operations.
    env = BoundedSandbox(
        autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.add_filters(FILTERS)
    return env


def _template_line(exc: BaseException) -> int | None:
    # Jinja rewrites tracebacks so template frames carry the template's own line numbers.
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class Renderer:
    """Renders templates from a source for a contact, with locale fallback and a compile cache."""

    def __init__(self, source: TemplateSource, default_locale: str = "en", brand: str = "Followthrough") -> None:
        self.source = source
        self.default_locale = normalize_locale(default_locale)
        self.brand = brand
        self._envs = {flag: build_environment(autoescape=flag) for flag in (False, True)}
        # Keyed by source text: an edited template compiles afresh, an unchanged one never again.
        self._compile = lru_cache(maxsize=1024)(self._compile_uncached)

    def render(
        self,
        channel: Channel | str,
        name: str,
        contact: ContactSnapshot,
        data: Mapping[str, Any] | None = None,
        run: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        brand: str | None = None,
    ) -> RenderedMessage:
        """Render the best locale for the contact: ``ru-RU`` -> ``ru`` -> the default locale.
        ``now`` is the day relative dates count from (the run's clock; default: now); ``brand``
        the definition's (``data.company`` when the data has none; default: the renderer's)."""
        channel = Channel(channel)
        chain = fallback_chain(contact.locale, self.default_locale)
        for locale in chain:
            if (parts := self.source.get(channel, name, locale)) is not None:
                return self.render_parts(channel, name, locale, parts, contact, data, run, now, brand)
        tried = ", ".join(chain)
        raise TemplateNotFound(f"template {channel}/{name} not found for locales {tried}")

    def render_parts(
        self,
        channel: Channel | str,
        name: str,
        locale: str,
        parts: TemplateParts,
        contact: ContactSnapshot,
        data: Mapping[str, Any] | None = None,
        run: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        brand: str | None = None,
    ) -> RenderedMessage:
        """Render given parts (a stored template or an unsaved draft) as ``locale``."""
        channel = Channel(channel)
        label = f"{channel}/{name}.{locale}"
        for part in [p for p, required in CHANNEL_PARTS[channel].items() if required]:
            if not getattr(parts, part):
                raise RenderError(f"{label}: required part '{part}' is missing")
        contact_locale = normalize_locale(contact.locale)
        # Dates use the contact's regional variant when it shares the text's language.
        same_language = contact_locale.split("-")[0] == locale.split("-")[0]
        context = {
            "contact": contact.model_dump(),
            "data": self.branded(data, brand),
            "run": dict(run or {}),
            _LOCALE_VAR: contact_locale if same_language else locale,
            _TZ_VAR: contact.time_zone,
            _NOW_VAR: now,
        }
        out = {
            part: self._render_part(label, part, text, context)
            for part in CHANNEL_PARTS[channel]
            if (text := getattr(parts, part)) is not None
        }
        subject = out.get("subject")
        return RenderedMessage(
            channel=channel,
            name=name,
            locale_used=locale,
            # A subject is one header line: folding newlines away also blocks header injection.
            subject=" ".join(subject.split()) if subject is not None else None,
            text=out["text"].strip(),
            html=out.get("html"),
        )

    def branded(self, data: Mapping[str, Any] | None, brand: str | None = None) -> dict[str, Any]:
        """The enrollment data with the sender's name as ``company``: the enrollment's own, else
        the definition's ``brand``, else the renderer's (``FT_BRAND_NAME``). One name, so a shop's
        customer never reads a message signed with ours."""
        data = dict(data or {})
        if not data.get(BRAND_KEY):
            data[BRAND_KEY] = brand or self.brand
        return data

    def _render_part(self, label: str, part: str, text: str, context: dict[str, Any]) -> str:
        try:
            return sandbox.render(self._compile(part == "html", text), context)
        except TemplateSyntaxError as exc:
            raise RenderError(f"{label} {part}: line {exc.lineno}: {exc.message}") from exc
        except Exception as exc:
            # Whatever a template raises (undefined name, sandbox violation, a filter's
            # TypeError) is the template's fault: report it uniformly, with its line.
            line = _template_line(exc)
            where = f"line {line}: " if line else ""
            raise RenderError(f"{label} {part}: {where}{type(exc).__name__}: {exc}") from exc

    def _compile_uncached(self, autoescape: bool, text: str) -> Template:
        return self._envs[autoescape].from_string(text)


def validate_template(channel: Channel | str, parts: TemplateParts) -> list[FieldError]:
    """Every problem in a template at once: missing parts, syntax errors, unknown names."""
    channel = Channel(channel)
    rules = CHANNEL_PARTS[channel]
    errors: list[FieldError] = []
    for part in PARTS:
        source, path = getattr(parts, part), f"/{part}"
        if part not in rules:
            if source:
                errors.append(FieldError(path, f"not used by {channel} templates"))
            continue
        if not source:
            if rules[part]:
                errors.append(FieldError(path, f"required for {channel} templates"))
            continue
        env = build_environment(autoescape=part == "html")
        try:
            ast = env.parse(source)
            env.compile(ast)  # compiling is what finds unknown filters and tests
        except TemplateSyntaxError as exc:
            errors.append(FieldError(path, f"line {exc.lineno}: {exc.message}"))
            continue
        unknown_names = meta.find_undeclared_variables(ast) - CONTEXT_NAMES - env.globals.keys()
        for unknown in sorted(unknown_names):
            errors.append(FieldError(path, f"unknown name '{unknown}' (use contact, data or run)"))
        errors += [FieldError(path, problem) for problem in sandbox.constant_problems(env, ast)]
    return errors


class SmsStats(BaseModel):
    encoding: str
    characters: int
    segments: int


class Preview(BaseModel):
    message: RenderedMessage
    sms: SmsStats | None = None


def preview(
    renderer: Renderer,
    channel: Channel | str,
    template: str | TemplateParts,
    contact: ContactSnapshot,
    data: Mapping[str, Any] | None = None,
) -> Preview:
    """Render a stored template (by name) or a draft (parts); for SMS add encoding and segments."""
    channel = Channel(channel)
    if isinstance(template, TemplateParts):
        locale = normalize_locale(contact.locale) or renderer.default_locale
        message = renderer.render_parts(channel, "draft", locale, template, contact, data)
    else:
        message = renderer.render(channel, template, contact, data)
    if channel is not Channel.SMS:
        return Preview(message=message)
    info = sms_info(message.text)
    encoding = str(getattr(info.encoding, "value", info.encoding))
    stats = SmsStats(encoding=encoding, characters=info.characters, segments=info.segments)
    return Preview(message=message, sms=stats)
