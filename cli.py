"""The `followthrough` command: dev | worker | api | outbox list | definitions validate|apply |
db upgrade | enroll."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

if __package__ in (None, ""):  # run as a script (`python cli.py`): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli_api import connect, default_api_url
from cli_enroll import enroll_command
from followthrough.errors import FieldError, FollowthroughError
from followthrough.settings import WORKER_ROLES, MissingSecret, Settings

if TYPE_CHECKING:
    from contextlib import ExitStack

    import httpx

    from followthrough.dsl.checks import References
    from followthrough.dsl.kinds import Parsed
    from followthrough.rendering import TemplateSource

# Each command imports what only it needs (the worker, FastAPI and uvicorn, httpx, Alembic),
# so `followthrough worker` starts without the API's or the HTTP client's imports (issue 9).

app = typer.Typer(help="Followthrough: durable CRM follow-through on Temporal.", no_args_is_help=True)
outbox_app = typer.Typer(help="The dev outbox.", no_args_is_help=True)
definitions_app = typer.Typer(help="Definitions as code.", no_args_is_help=True)
db_app = typer.Typer(help="The CRM database.", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
app.add_typer(definitions_app, name="definitions")
app.add_typer(db_app, name="db")
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = "FT_" + "_".join(str(p) for p in error["loc"]).upper()
            err.print(f"[red]configuration error[/red]: {name}: {error['msg']}")
        raise typer.Exit(2) from exc


def _require_secrets(settings: Settings, *, admin: bool) -> None:
    """Fail fast, naming every missing secret. The API checks API keys (admin); the worker
    signs unsubscribe links (FT_SECRET_KEY) but never needs the admin key; both talk to
    Temporal through the encrypting codec (FT_PAYLOAD_KEYS)."""
    missing: list[MissingSecret] = []
    if admin and not settings.admin_api_key:
        missing.append(MissingSecret("FT_ADMIN_API_KEY"))
    for read in (lambda: settings.signing_keys, lambda: settings.payload_key_bytes):
        try:
            read()
        except MissingSecret as exc:
            missing.append(exc)
    for exc in missing:
        err.print(f"[red]configuration error[/red]: {escape(str(exc))}")
    if missing:
        raise typer.Exit(2)


@app.command()
def dev() -> None:
    """Run everything on loopback: Temporal dev server, dev outbox, worker and API."""
    from devstack import run_dev

    raise typer.Exit(run_dev(_settings()))


@app.command()
def worker(
    role: Annotated[str | None, typer.Option(
        help="all: workflow tasks and activities; workflows: workflow tasks (and their local "
             "activities) only; activities: activities only (default: FT_WORKER_ROLE, all)")] = None,
) -> None:
    """Run a worker against the configured Temporal (FT_TEMPORAL_ADDRESS)."""
    # No cyclic GC while the worker's modules load (a fifth of their CPU, and the restarted
    # worker heals nothing until it polls); run_worker freezes what start-up built and turns
    # the GC back on once it polls.
    gc.disable()
    try:
        _run_worker(role)
    finally:
        gc.enable()


def _run_worker(role: str | None) -> None:
    from followthrough.logging import get_logger
    from worker import run_worker

    settings = _settings()
    if role is not None:
        if role not in WORKER_ROLES:
            err.print(f"[red]--role[/red] must be one of {', '.join(WORKER_ROLES)} (not {role!r})")
            raise typer.Exit(2)
        settings = settings.model_copy(update={"worker_role": role})
    _require_secrets(settings, admin=False)
    try:
        asyncio.run(run_worker(settings))
    except RuntimeError as exc:
        get_logger("worker").error(f"worker failed: {exc}")
        raise typer.Exit(1) from exc


@app.command()
def api() -> None:
    """Serve the HTTP API (FT_API_HOST:FT_API_PORT)."""
    import uvicorn

    from api.app import create_app
    from followthrough.logging import configure_logging

    settings = _settings()
    _require_secrets(settings, admin=True)
    configure_logging(settings.log_level)
    asyncio.run(_check_search_attributes(settings))
    # log_config=None: uvicorn's loggers go to the one handler configure_logging set up (its
    # own would print coloured text lines next to our JSON).
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_config=None,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=10)


async def _check_search_attributes(settings: Settings) -> None:
    """Said as log lines (configure_logging ran): the service's messages share one format."""
    from followthrough.logging import get_logger
    from followthrough.temporal import connect, missing_search_attributes

    try:
        client = await asyncio.wait_for(connect(settings), timeout=5)
        missing = await missing_search_attributes(client, settings.temporal_namespace)
    except Exception as exc:
        get_logger("api").warning(f"Temporal is not answering yet ({exc}); starting anyway")
        return
    if missing:
        get_logger("api").error(f"Temporal namespace '{settings.temporal_namespace}' lacks search attributes: "
                  f"{', '.join(missing)}")
        raise typer.Exit(2)


@outbox_app.command("list")
def outbox_list(
    channel: str | None = typer.Option(None, help="email, sms or voice"),
    to: str | None = typer.Option(None, help="recipient address"),
    limit: int = typer.Option(20, min=1),
    as_json: bool = typer.Option(False, "--json", help="print JSON lines"),
) -> None:
    """List what the dev outbox captured, newest first."""
    from channels.outbox import OutboxStore

    settings = _settings()
    captures = OutboxStore(settings.outbox_file).list(channel=channel, to=to, limit=limit)
    if as_json:
        for capture in captures:
            print(json.dumps(capture.to_json(), ensure_ascii=False))
        return
    table = Table("received", "channel", "to", "subject / text")
    for c in captures:
        table.add_row(c.received_at, c.channel, c.to, (c.subject or c.text or "")[:80])
    Console().print(table)


@definitions_app.command("validate")
def definitions_validate(
    files: list[Path],
    api_url: str = typer.Option("", envvar="FT_API_URL", help="the API's base URL (default: FT_API_HOST:FT_API_PORT)"),
    api_key: str = typer.Option("", envvar="FT_ADMIN_API_KEY", help="an admin or manager key (default: the data directory's admin_api_key)"),
) -> None:
    """Validate definition files of every kind fully (schema, steps, expressions, templates per
    locale, built-in and file calendars; SMS length as warnings). Templates are the files under
    FT_TEMPLATES_DIR and, when an API is configured (FT_API_URL or a key), the ones stored
    through it, and a policy's teams, users and nurture sequence are checked against the API's
    (with an admin key; offline they are checked when the file is saved). Prints every problem
    with its path; exits 1 when any file has errors."""
    from contextlib import ExitStack

    from followthrough.bootstrap import (
        calendars_dir,
        read_definition_document,
        sms_segment_counter,
        template_lookup,
    )
    from followthrough.calendar import BUILTIN_CALENDARS
    from followthrough.dsl.validate import validate
    from followthrough.rendering import Renderer
    from followthrough.store.calendars import load_files

    settings = _settings()
    try:
        known = set(BUILTIN_CALENDARS) | {c.name for c in load_files(calendars_dir(settings))}
    except FollowthroughError as exc:
        _print_problems(exc.message, exc.errors)
        raise typer.Exit(1) from exc
    failed = False
    with ExitStack() as stack:
        source, references = _api_lookups(settings, api_url, api_key, stack)
        renderer = Renderer(source, settings.default_locale, settings.brand_name)
        for path in files:
            try:
                document = read_definition_document(path)
            except FollowthroughError as exc:
                failed = True
                _print_problems(f"{path}: {exc.message}", exc.errors)
                continue
            definition, errors, warnings = validate(
                document, template_lookup(source), calendar_exists=known.__contains__,
                sms_segments=sms_segment_counter(renderer, settings.default_time_zone),
                references=references,
            )
            if warnings:
                _print_problems(f"{path}: {len(warnings)} warning(s)", warnings, level="yellow")
            if definition is None:
                failed = True
                _print_problems(f"{path}: {len(errors)} error(s)", errors)
            else:
                print(f"{path}: ok ({definition.name}, {_summary(definition)})")
    raise typer.Exit(1 if failed else 0)


def _summary(definition: Parsed) -> str:
    """What a valid definition holds, in a few words: "4 steps", "lead_policy, 3 fit rules"."""
    from followthrough.dsl.schema import SequenceDefinition
    from followthrough.leads.policy import LeadPolicyDefinition

    if isinstance(definition, SequenceDefinition):
        return f"{len(definition.steps)} steps"
    if isinstance(definition, LeadPolicyDefinition):
        return f"lead_policy, {len(definition.fit)} fit rules"
    return f"sla_policy, {len(definition.classification)} classification rules, " \
           f"{len(definition.priorities)} priorities"


def _api_lookups(settings: Settings, api_url: str, api_key: str, stack: ExitStack
                 ) -> tuple[TemplateSource, References]:
    """The files under FT_TEMPLATES_DIR, then the templates stored through the API when one is
    configured, so a definition the API accepts is not refused here; and what a policy refers
    to as the API knows it (``cli_api.api_references``). An API that does not answer leaves the
    files and no references, said in one line."""
    import httpx

    from cli_api import ApiTemplateSource, api_configured, api_references
    from followthrough.dsl.checks import References
    from followthrough.rendering import ChainTemplateSource, FileTemplateSource

    files = FileTemplateSource(settings.templates_dir)
    if not api_configured(api_url, api_key):
        return files, References()
    url = api_url or default_api_url()
    try:
        client = stack.enter_context(api_client(url, api_key))
        stored, references = ApiTemplateSource.load(client), api_references(client)
    except httpx.HTTPStatusError as exc:
        reason = f"answered HTTP {exc.response.status_code}"
    except httpx.TransportError as exc:
        reason = f"is not answering ({exc or type(exc).__name__})"
    else:
        return ChainTemplateSource(files, stored), references
    _print_problems(f"templates: the API at {url} {reason}; checking the files under "
                    f"{settings.templates_dir} only", [], level="yellow")
    return files, References()


@definitions_app.command("apply")
def definitions_apply(
    target: Annotated[Path, typer.Argument(help="a definition file, or a directory of them")],
    publish: bool = typer.Option(True, "--publish/--no-publish", help="make each version active"),
    api_url: str = typer.Option("", envvar="FT_API_URL", help="the API's base URL (default: FT_API_HOST:FT_API_PORT)"),
    api_key: str = typer.Option("", envvar="FT_ADMIN_API_KEY", help="an admin or manager key (default: the data directory's admin_api_key)"),
) -> None:
    """Save definition files through the API and publish them (idempotent: an unchanged file
    makes no new version). Prints name, version, created, active; exits 1 on any failure."""
    api_url = api_url or default_api_url()
    import httpx

    from followthrough.bootstrap import definition_files

    paths = definition_files(target)
    if not paths:
        _print_problems(f"{target}: no definition files (*.yaml, *.yml, *.json)", [])
        raise typer.Exit(1)
    table = Table("file", "name", "version", "created", "active")
    failed = False
    try:
        with api_client(api_url, api_key) as client:
            for path in paths:
                row = _apply_one(client, path, publish=publish)
                failed |= row is None
                if row is not None:
                    table.add_row(path.name, *row)
    except httpx.TransportError as exc:
        _print_problems(f"cannot reach the API at {api_url}: {exc or type(exc).__name__} "
                        "(is it running? set FT_API_URL)", [])
        raise typer.Exit(2) from exc
    Console().print(table)
    raise typer.Exit(1 if failed else 0)


def _apply_one(client: httpx.Client, path: Path, *, publish: bool) -> tuple[str, ...] | None:
    """Save (and publish) one file; None after printing why it failed."""
    try:
        body = path.read_bytes()
    except OSError as exc:
        _print_problems(f"{path}: {exc.strerror}", [])
        return None
    kind = "application/json" if path.suffix == ".json" else "application/yaml"
    saved = client.post("/v1/definitions", content=body, headers={"Content-Type": kind})
    if saved.status_code not in (200, 201):
        _print_response_problem(path, saved)
        return None
    version = saved.json()
    if publish and not version["active"]:
        published = client.post(f"/v1/definitions/{version['name']}/publish",
                                json={"version": version["version"]})
        if published.status_code != 200:
            _print_response_problem(path, published)
            return None
        version = {**published.json(), "created": version["created"]}
    if warnings := saved.json().get("warnings"):
        found = [FieldError(w["path"], w["message"]) for w in warnings]
        _print_problems(f"{path}: {len(found)} warning(s)", found, level="yellow")
    yes = {True: "yes", False: "no"}
    return version["name"], str(version["version"]), yes[version["created"]], yes[version["active"]]


@definitions_app.command("preview")
def definitions_preview(
    name: Annotated[str, typer.Argument(help="the definition's name")],
    contact_id: int | None = typer.Option(None, help="a stored contact"),
    contact: str | None = typer.Option(None, help='a sample contact as JSON, e.g. \'{"name": "Anna", "locale": "ru", "time_zone": "Europe/Moscow", "email": "anna@example.test"}\''),
    data: str = typer.Option("{}", help="the enrollment data as JSON"),
    lead: str | None = typer.Option(None, help='a lead_policy\'s lead as JSON, e.g. \'{"source": "web", "attributes": {"segment": "smb"}, "events": [{"event": "reply", "at": "2026-04-01T10:00:00Z"}]}\''),
    ticket: str | None = typer.Option(None, help='an sla_policy\'s ticket as JSON, e.g. \'{"subject": "Жалоба", "text": "...", "channel": "email"}\''),
    start: str | None = typer.Option(None, help="RFC 3339 start time, or when a policy decides (default: now)"),
    version: int | None = typer.Option(None, help="a version (default: the active one)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole preview as JSON"),
    api_url: str = typer.Option("", envvar="FT_API_URL", help="the API's base URL (default: FT_API_HOST:FT_API_PORT)"),
    api_key: str = typer.Option("", envvar="FT_ADMIN_API_KEY", help="an admin or manager key (default: the data directory's admin_api_key)"),
) -> None:
    """What will happen to this contact: a sequence's every step with its planned time and every
    message rendered in the contact's language; a lead policy's score, stage, owner and SLA
    times for --lead; an SLA policy's category, priority, team and SLA times for --ticket
    (printed as JSON). Nothing is sent or written."""
    api_url = api_url or default_api_url()
    import httpx

    body: dict[str, object] = {}
    given = {"data": data if data != "{}" else None, "contact": contact, "lead": lead, "ticket": ticket}
    for option, text in given.items():
        if text is None:
            continue
        try:
            body[option] = json.loads(text)
        except json.JSONDecodeError as exc:
            _print_problems(f"--{option} is not JSON: {exc.msg}", [])
            raise typer.Exit(1) from exc
    if contact_id is not None:
        body["contact_id"] = contact_id
    if start is not None:
        body["start"] = start
    if version is not None:
        body["version"] = version
    try:
        with api_client(api_url, api_key) as client:
            response = client.post(f"/v1/definitions/{name}/preview", json=body)
    except httpx.HTTPError as exc:
        _print_problems(f"the API at {api_url} is not answering: {exc}", [])
        raise typer.Exit(2) from exc
    if response.status_code != 200:
        _print_response_problem(Path(name), response)
        raise typer.Exit(1)
    preview = response.json()
    if as_json or preview.get("kind", "sequence") != "sequence":
        print(json.dumps(preview, ensure_ascii=False, indent=2))
        return
    table = Table("at (UTC)", "step", "type", "state", "channel", "reason / message", title=(
        f"{preview['definition']} v{preview['version']} for {preview['contact'].get('name') or 'contact'}"))
    for step in preview["steps"]:
        message = step.get("message") or {}
        summary = message.get("subject") or (message.get("text") or "")[:60]
        table.add_row(str(step.get("at") or step.get("started_at") or "")[:19], step["step_id"], step["type"],
                      step["state"], step.get("channel") or "", step.get("reason") or summary)
    Console().print(table)
    end = preview.get("end") or {}
    if end:
        print(f"ends {end.get('status')} at {str(end.get('at'))[:19]}: {end.get('reason') or ''}")
    for warning in preview.get("warnings") or []:
        _print_problems(f"warning: {warning}", [], level="yellow")


def api_client(base_url: str, api_key: str) -> httpx.Client:
    """The HTTP client of the commands that talk to the API (tests replace it): the key from
    FT_ADMIN_API_KEY or the data directory, a 401 said as such (cli_api)."""
    return connect(base_url, api_key, timeout=30)


def _print_response_problem(path: Path, response: httpx.Response) -> None:
    is_json = response.headers.get("content-type", "").endswith("json")
    problem = response.json() if is_json else {}
    detail = problem.get("detail") or response.text[:200] or response.reason_phrase
    errors = [FieldError(e.get("path", ""), e.get("message", "")) for e in problem.get("errors") or []]
    _print_problems(f"{path}: HTTP {response.status_code}: {detail}", errors)


def _print_problems(headline: str, errors: list[FieldError], *, level: str = "red") -> None:
    """One problem a line, never wrapped (logs and grep), user text never read as markup."""
    err.print(f"[{level}]{escape(headline)}[/{level}]", soft_wrap=True)
    for e in errors:
        err.print(escape(f"  {e.path or '/'}: {e.message}"), soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from followthrough.store.db import make_engine, upgrade

    settings = _settings()
    upgrade(make_engine(settings.resolved_database_url))
    print(f"database at {settings.resolved_database_url.split('@')[-1]} is up to date")


# `followthrough enroll NAME --file contacts.csv`: its own module (cli_enroll.py).
app.command("enroll")(enroll_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
