"""What the ledger checker reports: a result per check and the report a person reads (its
progress as it goes: core.progress). Pure: no database."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 10


@dataclass
class CheckResult:
    """The outcome of one check: how much it examined, what was wrong, a few examples."""

    name: str
    title: str
    examined: int = 0
    unit: str = "rows"
    failures: int = 0
    examples: list[str] = field(default_factory=list)
    # Not a broken invariant, but worth a look (e.g. a limit lowered after it was used).
    warnings: int = 0
    warning_examples: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.failures == 0

    def fail(self, message: str) -> None:
        self.failures += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(message)

    def warn(self, message: str) -> None:
        self.warnings += 1
        if len(self.warning_examples) < MAX_EXAMPLES:
            self.warning_examples.append(message)


@dataclass
class LedgerReport:
    results: list[CheckResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def result(self, name: str) -> CheckResult:
        return next(r for r in self.results if r.name == name)

    @property
    def failed(self) -> list[str]:
        return [r.name for r in self.results if not r.ok]

    def render(self) -> str:
        """The report a person reads: one line per check, then examples of what failed."""
        lines = [line for result in self.results for line in result_lines(result)]
        lines.append(verdict(self.failed, len(self.results)))
        return "\n".join(lines)


def result_lines(result: CheckResult) -> list[str]:
    """One check in the report: its status line, its note, then its examples."""
    status = "ok  " if result.ok else "FAIL"
    line = f"{status}  {result.name:<13} {result.title}: {result.examined:,} {result.unit} examined"
    if not result.ok:
        line += f", {result.failures:,} wrong"
    if result.warnings:
        line += f", {result.warnings:,} warning{'s' if result.warnings != 1 else ''}"
    lines = [line]
    if result.note:
        lines.append(f"        {result.note}")
    lines += [f"        - {example}" for example in result.examples]
    if result.failures > len(result.examples):
        lines.append(f"        ... and {result.failures - len(result.examples):,} more")
    lines += [f"        ! {example}" for example in result.warning_examples]
    return lines


def verdict(failed: list[str], checks: int) -> str:
    """The report's last line, after a blank one."""
    if failed:
        return f"\nledger check FAILED: {len(failed)} of {checks} checks ({', '.join(failed)})"
    return f"\nledger check passed: all {checks} checks hold"
