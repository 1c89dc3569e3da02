"""Every benchmark, one after the other, into one report (what `make bench` runs).

    .venv/bin/python -m bench [--quick]

Needs PostgreSQL for the HTTP and paging benchmarks (MANDATE_BENCH_ADMIN_URL, default the
local server); the decision and replay benchmarks run on SQLite files. Prints the report and
writes it to var/bench-report.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from core.settings import REPO_ROOT


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer entries")
    parser.add_argument("--runs", type=int, default=3, help="HTTP runs per case (medians)")
    args = parser.parse_args()
    steps = [
        ["bench.decisions", "--decisions", "10000"],
        ["bench.engine_memory", "--engines", "8", "--entries", "300"],
        [
            "bench.http_transfers",
            "--seconds",
            "5" if args.quick else "15",
            "--concurrency",
            "16",
            "--workers",
            "2",
            "--runs",
            "1" if args.quick else str(args.runs),
        ],
        [
            "bench.replay",
            "--decisions",
            "20000" if args.quick else "100000",
            "--distinct-decisions",
            "2000" if args.quick else "10000",
            "--runs",
            "1" if args.quick else "3",
            "--transfers",
            "2000",
        ],
        [
            "bench.payment_batches",
            "--items",
            "1000",
            "--runs",
            "1" if args.quick else "3",
            "--postgres",
        ],
        [
            "bench.statement_paging",
            "--entries",
            "100000" if args.quick else "1000000",
            "--pages",
            "2000",
        ],
        ["bench.statement_export", "--entries", "100000" if args.quick else "1000000"],
    ]
    lines = [
        f"Mandate benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    ]
    for module, *flags in steps:
        command = [sys.executable, "-m", module, *flags]
        lines.append(f"\n$ python -m {module} {' '.join(flags)}")
        print(lines[-1], flush=True)
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        output = result.stdout.strip() or result.stderr.strip()
        print(output, flush=True)
        lines.append(output)
        if result.returncode != 0:
            lines.append(f"(exit {result.returncode})")
    report = REPO_ROOT / "var" / "bench-report.txt"
    Path(report).parent.mkdir(exist_ok=True)
    report.write_text("\n".join(lines) + "\n")
    print(f"\nreport written to {report}")


if __name__ == "__main__":
    main()
