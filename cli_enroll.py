"""`followthrough enroll NAME --file contacts.csv`: enroll a segment through the batch API, with a
progress bar fed by the streamed answer. Registered by cli.py; only typer and the standard library
are imported here at start (httpx and rich when the command runs)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli_api import connect, default_api_url

if TYPE_CHECKING:
    import httpx
    from rich.console import Console

#: The API's most contacts a batch (followthrough.batch_enrollment.MAX_BATCH).
MAX_BATCH = 1000
MAX_ID = 2**31 - 1
ID_COLUMNS = ("contact_id", "external_id")
NDJSON = "application/x-ndjson"
#: Bad rows named one by one before the rest is only counted.
SHOWN_ERRORS = 20


class BadInput(Exception):
    """A file or option we cannot use: every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Row:
    """One contact of the file: its line number (the header is line 1) and its batch item."""

    line: int
    item: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.item.get("contact_id") or self.item.get("external_id"))


def read_contacts(path: Path) -> list[Row]:
    """The file's contacts: a ``contact_id`` or ``external_id`` column, the other columns each
    contact's data (as text; empty cells left out). Raises ``BadInput`` naming every bad line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            lines = list(csv.reader(handle))
    except OSError as exc:
        raise BadInput([f"{path}: {exc.strerror or exc}"]) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInput([f"{path}: not a UTF-8 CSV file ({exc})"]) from exc
    if not lines or not any(cell.strip() for cell in lines[0]):
        raise BadInput([f"{path}: empty file; the first line names the columns, one of them "
                        "contact_id or external_id"])
    header = [cell.strip() for cell in lines[0]]
    problems = [f"{path}: column {i + 1} has no name" for i, name in enumerate(header) if not name]
    problems += [f"{path}: column '{name}' appears twice" for name in sorted(set(header))
                 if name and header.count(name) > 1]
    if not any(name in header for name in ID_COLUMNS):
        problems.append(f"{path}: no contact_id or external_id column (columns: {', '.join(header)})")
    if problems:
        raise BadInput(problems)
    rows: list[Row] = []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, e.g. at the end
        if len(cells) > len(header):
            problems.append(f"{path}:{number}: {len(cells)} cells, the header has {len(header)}")
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if cell.strip()}
        item, problem = _item(values)
        if problem:
            problems.append(f"{path}:{number}: {problem}")
        else:
            rows.append(Row(number, item))
    if problems:
        raise BadInput(problems)
    if not rows:
        raise BadInput([f"{path}: no contacts, only the header"])
    return rows


def _item(values: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    contact_id, external_id = values.pop("contact_id", None), values.pop("external_id", None)
    if (contact_id is None) == (external_id is None):
        return {}, "give exactly one of contact_id and external_id"
    item: dict[str, Any] = {}
    if contact_id is not None:
        if not (contact_id.isascii() and contact_id.isdigit() and 1 <= int(contact_id) <= MAX_ID):
            return {}, f"contact_id '{contact_id}' is not a contact id (a whole number from 1)"
        item["contact_id"] = int(contact_id)
    elif len(external_id or "") > 200:
        return {}, "external_id is longer than 200 characters"
    else:
        item["external_id"] = external_id
    if values:
        item["data"] = values
    return item, None


def shared_data(pairs: list[str]) -> dict[str, str]:
    """``--data key=value`` options as one object."""
    data: dict[str, str] = {}
    bad = [p for p in pairs if "=" not in p or not p.split("=", 1)[0].strip()]
    if bad:
        raise BadInput([f"--data '{p}' is not key=value" for p in bad])
    for pair in pairs:
        key, value = pair.split("=", 1)
        data[key.strip()] = value
    return data


def api_client(base_url: str, api_key: str) -> httpx.Client:
    """The HTTP client of this command (tests replace it). No read timeout: a batch of 1,000
    answers line by line for as long as it takes."""
    import httpx

    return connect(base_url, api_key, timeout=httpx.Timeout(30, read=None))


@dataclass
class Tally:
    created: int = 0
    existing: int = 0
    failed: int = 0
    #: (line, contact, status, code, detail) of each contact that failed.
    failures: list[tuple[int, str, str, str, str]] = field(default_factory=list)


class BatchRefused(Exception):
    """The API refused a whole batch (unknown sequence, bad key, ...): its problem, one line."""


def _stream(client: httpx.Client, name: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    with client.stream("POST", f"/v1/sequences/{name}/enrollments/batch", json=body,
                       headers={"Accept": NDJSON}) as response:
        if response.status_code != 200:
            response.read()
            raise BatchRefused(_problem_line(response))
        for line in response.iter_lines():
            if not line.strip():
                continue
            try:
                answer = json.loads(line)
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise BatchRefused(f"the API's answer is not one JSON object a line: {line[:80]!r}")
            yield answer


def _problem_line(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    detail = problem.get("detail") or response.text[:200] or response.reason_phrase
    errors = "; ".join(f"{e.get('path') or '/'}: {e.get('message')}" for e in problem.get("errors") or [])
    return f"HTTP {response.status_code}: {detail}" + (f" ({errors})" if errors else "")


def enroll_rows(client: httpx.Client, name: str, rows: list[Row], data: dict[str, str],
                batch_size: int, err: Console) -> Tally:
    """Sends the rows in batches, advancing a progress bar (on stderr) line by line."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    tally = Tally()
    columns = (TextColumn("enrolling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("enroll", total=len(rows))
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            answered: set[int] = set()
            body = {"contacts": [row.item for row in batch], "data": data}
            for answer in _stream(client, name, body):
                if "summary" in answer:
                    continue
                index, outcome = answer.get("index"), answer.get("outcome")
                if not isinstance(index, int) or not 0 <= index < len(batch) or index in answered \
                        or outcome not in ("created", "existing", "failed"):
                    raise BatchRefused(f"the API's answer has a line this batch cannot have: {answer}")
                row = batch[index]
                answered.add(index)
                if outcome == "failed":
                    problem = answer.get("problem") or {}
                    tally.failures.append((row.line, row.label, str(problem.get("status", "")),
                                           str(problem.get("code", "")), str(problem.get("detail", ""))))
                setattr(tally, outcome, getattr(tally, outcome) + 1)
                progress.advance(task)
            for index, row in enumerate(batch):  # the stream was cut short
                if index not in answered:
                    tally.failed += 1
                    tally.failures.append((row.line, row.label, "", "no_answer",
                                           "the API's answer ended before this contact's"))
                    progress.advance(task)
    tally.failures.sort()
    return tally


def enroll_command(
    name: Annotated[str, typer.Argument(help="the sequence to enroll in")],
    file: Annotated[Path, typer.Option("--file", "-f", help="a CSV file: a contact_id or external_id "
                                       "column, other columns are each contact's data")],
    data: Annotated[list[str] | None, typer.Option("--data", help="shared data, key=value (repeatable)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="contacts per request")] = MAX_BATCH,
    api_url: Annotated[str, typer.Option(envvar="FT_API_URL", help="the API's base URL (default: FT_API_HOST:FT_API_PORT)")] = "",
    api_key: Annotated[str, typer.Option(envvar="FT_ADMIN_API_KEY", help="an API key, a rep's will do (default: the data directory's admin_api_key)")] = "",
) -> None:
    """Enroll every contact of a CSV file in a sequence (idempotent: contacts already running
    keep their run). Shows progress, then the contacts that failed and the counts; exits 1 when
    any contact failed, 2 when the file or the API cannot be used."""
    api_url = api_url or default_api_url()
    import httpx
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    err = Console(stderr=True)
    try:
        rows = read_contacts(file)
        shared = shared_data(data or [])
    except BadInput as exc:
        shown = exc.problems[:SHOWN_ERRORS]
        for problem in shown:
            err.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)
        if len(exc.problems) > len(shown):
            err.print(f"[red]... and {len(exc.problems) - len(shown)} more[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    try:
        with api_client(api_url, api_key) as client:
            tally = enroll_rows(client, name, rows, shared, batch_size, err)
    except BatchRefused as exc:
        err.print(f"[red]{escape(f'{name}: {exc}')}[/red]", soft_wrap=True)
        raise typer.Exit(1) from exc
    except httpx.TransportError as exc:
        err.print(f"[red]{escape(f'cannot reach the API at {api_url}: {exc or type(exc).__name__}')}"
                  "[/red] (is it running? set FT_API_URL)", soft_wrap=True)
        raise typer.Exit(2) from exc
    out = Console(soft_wrap=True)
    if tally.failures:
        failed = Table("line", "contact", "status", "code", "problem", title="not enrolled")
        for line, label, status, code, detail in tally.failures:
            failed.add_row(str(line), escape(label), status, code, escape(detail))
        out.print(failed)
    counts = Table("created", "existing", "failed", "total", title=f"enrolled in {escape(name)}")
    counts.add_row(str(tally.created), str(tally.existing), str(tally.failed), str(len(rows)))
    out.print(counts)
    raise typer.Exit(1 if tally.failed else 0)
