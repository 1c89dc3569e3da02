"""How far a long check got: the checks report to a `Progress` (the ledger checker, the audit
verifier); the commands draw it as a bar on stderr, so that stdout keeps the report alone.
The checks themselves draw nothing: without a bar they are handed `NoProgress`."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress


class Progress(Protocol):
    """Where a check reports how far it got (the CLI draws a progress bar)."""

    def begin(self, title: str, total: int) -> None: ...

    def advance(self, steps: int) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    def begin(self, title: str, total: int) -> None:
        pass

    def advance(self, steps: int) -> None:
        pass

    def end(self) -> None:
        pass


class ProgressBar:
    """A Progress drawn with rich on stderr (stdout keeps the report); by default only when
    stderr is a terminal (`--progress/--no-progress` choose)."""

    def __init__(self, *, enabled: bool | None) -> None:
        console = Console(stderr=True)
        self.progress = RichProgress(
            TextColumn("{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
            disable=not (console.is_terminal if enabled is None else enabled),
        )
        self.task: object | None = None

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, title: str, total: int) -> None:
        self.task = self.progress.add_task(title, total=total)

    def advance(self, steps: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, steps)  # type: ignore[arg-type]

    def end(self) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)  # type: ignore[arg-type]
            self.task = None
