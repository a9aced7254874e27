"""The `followthrough` command: dev | worker | api | outbox list | definitions validate | db upgrade."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`python cli.py`): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from followthrough.errors import FollowthroughError
from followthrough.settings import Settings

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


def _require_admin_key(settings: Settings) -> None:
    if not settings.admin_api_key:
        err.print("[red]FT_ADMIN_API_KEY is not set[/red]: the API and worker refuse to start "
                  "without one (`followthrough dev` generates one for you).")
        raise typer.Exit(2)


@app.command()
def dev() -> None:
    """Run everything on loopback: Temporal dev server, dev outbox, worker and API."""
    from devstack import run_dev

    raise typer.Exit(run_dev(_settings()))


@app.command()
def worker() -> None:
    """Run a worker against the configured Temporal (FT_TEMPORAL_ADDRESS)."""
    from worker import run_worker

    settings = _settings()
    _require_admin_key(settings)
    try:
        asyncio.run(run_worker(settings))
    except RuntimeError as exc:
        err.print(f"[red]worker failed[/red]: {exc}")
        raise typer.Exit(1) from exc


@app.command()
def api() -> None:
    """Serve the HTTP API (FT_API_HOST:FT_API_PORT)."""
    import uvicorn

    from api.app import create_app
    from followthrough.logging import configure_logging

    settings = _settings()
    _require_admin_key(settings)
    configure_logging(settings.log_level)
    asyncio.run(_check_search_attributes(settings))
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower(), timeout_graceful_shutdown=10)


async def _check_search_attributes(settings: Settings) -> None:
    from followthrough.temporal import connect, missing_search_attributes

    try:
        client = await asyncio.wait_for(connect(settings), timeout=5)
        missing = await missing_search_attributes(client, settings.temporal_namespace)
    except Exception as exc:
        err.print(f"[yellow]Temporal is not answering yet[/yellow] ({exc}); starting anyway.")
        return
    if missing:
        err.print(f"[red]Temporal namespace '{settings.temporal_namespace}' lacks search "
                  f"attributes[/red]: {', '.join(missing)}")
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
def definitions_validate(files: list[Path]) -> None:
    """Validate definition files (schema and templates); print every problem with its path."""
    from followthrough.bootstrap import load_definition_file

    failed = False
    for path in files:
        try:
            definition = load_definition_file(path)
        except FollowthroughError as exc:
            failed = True
            err.print(f"[red]{path}[/red]: {exc.message}")
            for e in exc.errors:
                err.print(f"  {e.path or '/'}: {e.message}")
        except OSError as exc:
            failed = True
            err.print(f"[red]{path}[/red]: {exc.strerror}")
        else:
            print(f"{path}: ok ({definition.name}, {len(definition.steps)} steps)")
    raise typer.Exit(1 if failed else 0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from followthrough.store.db import make_engine, upgrade

    settings = _settings()
    upgrade(make_engine(settings.resolved_database_url))
    print(f"database at {settings.resolved_database_url.split('@')[-1]} is up to date")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
