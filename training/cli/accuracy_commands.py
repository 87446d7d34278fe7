"""``partnercast accuracy``: realised accuracy of past forecasts from the forecast ledger.

Reads the ledger (``PARTNERCAST_LEDGER_URL``, default ``ledger.db`` beside the MLflow
store), keeps the partner forecasts whose quarter has ended by the data's last date,
compares them with the actual revenue in ``--data`` and prints WAPE, bias and 80%
coverage by model, horizon and segment (``--out`` also writes them as CSV).

Exit codes: 0 with a report; also 0 when there is nothing to score yet (an empty or
missing ledger, or no forecast whose quarter has ended), with the reason on stderr and,
with ``--out``, a CSV of just the header: a scheduled job that runs before the first
quarter has matured is not failing. 2 for bad data or a fiscal calendar that does not
match the recorded quarters; 1 when the ledger cannot be read.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import load_dataset, write_csv_atomically
from features.reporting.accuracy import MIN_FLAG_FORECASTS, REPORT_COLUMNS, format_report
from features.reporting.realised import LedgerUnreadable, realised_accuracy
from features.reporting.value_added import format_value_added
from features.settings import Settings


def _nothing_to_score(reason: str, args: argparse.Namespace) -> int:
    print(f"partnercast accuracy: {reason}", file=sys.stderr)
    if args.out is not None:
        write_csv_atomically(pd.DataFrame(columns=REPORT_COLUMNS), args.out)
        print(f"wrote an empty report (header only) to {args.out}")
    return 0


def cmd_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    try:
        found = realised_accuracy(
            ds,
            ledger_url=settings.resolved_ledger_url,
            calendar=QuarterCalendar(settings.fy_start_month),
            model_version=args.model_version,
            coverage_floor=args.coverage_floor,
        )
    except LedgerUnreadable as exc:
        print(f"partnercast accuracy: {exc}", file=sys.stderr)
        return 1
    if found.left_out is not None:
        print(f"partnercast accuracy: warning: {found.left_out}", file=sys.stderr)
    if found.report is None or found.value_added is None:
        return _nothing_to_score(found.nothing_because or "nothing to score", args)
    report = found.report
    print(f"forecasts scored: {found.scored} (quarters ended by {found.last_date.date()})")
    print(format_report(report))
    flagged = report[report["low_coverage"]]
    print(
        f"coverage below {args.coverage_floor:.2f}: {len(flagged)} row(s) flagged "
        f"(groups with fewer than {MIN_FLAG_FORECASTS} forecasts are marked small, not flagged)"
    )
    if args.out is not None:
        write_csv_atomically(report, args.out)
        print(f"wrote {len(report)} rows to {args.out}")
    print("forecast value added (seasonal naive -> model -> final with overrides):")
    print(format_value_added(found.value_added))
    if args.fva is not None:
        write_csv_atomically(found.value_added, args.fva)
        print(f"wrote {len(found.value_added)} rows to {args.fva}")
    return 0
