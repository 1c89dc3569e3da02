"""`mandate statement export`: a statement file from a terminal on a host that reaches the
database, as a person signed in (core.signed_in): the same statement.read decision, logged, and
the same file as GET /v1/accounts/{id}/statements, written as its pages are read, with the
entries written so far on stderr."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from core.fields import OUT_OF_RANGE, in_calendar
from core.signed_in import UserOption, signed_in
from core.statements.export import open_export
from core.statements.files import statement_file

statement_app = typer.Typer(no_args_is_help=True, help="Account statements.")


def _day(text: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a day (YYYY-MM-DD)") from None
    if not in_calendar(day):
        raise typer.BadParameter(OUT_OF_RANGE)
    return day


@statement_app.command("export")
def export(
    account_id: int = typer.Argument(..., min=1, help="the account's id"),
    first_day: str = typer.Option(..., "--from", help="first day, YYYY-MM-DD (company's zone)"),
    last_day: str = typer.Option(..., "--to", help="last day, included"),
    format: str = typer.Option("camt053", "--format", "-f", help="camt053 or csv"),
    output: Path = typer.Option(None, "--output", "-o", help="file to write (default: stdout)"),
    progress: bool = typer.Option(
        None, "--progress/--no-progress", help="entries written, on stderr (default: a terminal)"
    ),
    user: str = UserOption,
) -> None:
    """Export ACCOUNT_ID's statement over a period of days as camt.053.001.08 or CSV."""
    console = Console(stderr=True)
    shown = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}: {task.completed} entries"),
        console=console,
        transient=True,
        disable=not (console.is_terminal if progress is None else progress),
    )
    with signed_in(user, action="statement.read") as uow:
        statement = uow.run(
            open_export,
            account_id,
            first_day=_day(first_day),
            last_day=_day(last_day),
            format=format,
        )
        target = output.open("wb") if output else sys.stdout.buffer
        try:
            with shown:
                task = shown.add_task(f"account {account_id}", total=None)
                pages = statement_file(uow.db, statement, on_page=lambda n: shown.advance(task, n))
                for chunk in pages:
                    target.write(chunk)
        finally:
            if output:
                target.close()
    if output:
        typer.echo(f"wrote {output} ({statement.filename})", err=True)
