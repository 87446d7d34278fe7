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
import logging
import sys

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, load_dataset, write_csv_atomically
from features.families import build_revenue_panel
from features.reporting import ForecastLedger, display_url
from features.reporting.overrides import read_overrides
from features.settings import Settings
from training.reports.accuracy import (
    MIN_FLAG_FORECASTS,
    REPORT_COLUMNS,
    accuracy_report,
    format_report,
    join_actuals,
    matured_forecasts,
)
from training.reports.value_added import (
    format_value_added,
    value_added_report,
    with_naive_and_final,
)

log = logging.getLogger(__name__)


def _nothing_to_score(reason: str, args: argparse.Namespace) -> int:
    print(f"partnercast accuracy: {reason}", file=sys.stderr)
    if args.out is not None:
        write_csv_atomically(pd.DataFrame(columns=REPORT_COLUMNS), args.out)
        print(f"wrote an empty report (header only) to {args.out}")
    return 0


def cmd_accuracy(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    last_date = ds.as_of()
    url = settings.resolved_ledger_url
    try:
        with ForecastLedger(url, create=False) as ledger:
            recorded = ledger.forecasts(
                level="partner", model_version=args.model_version, quarter_start_to=last_date
            )
    except Exception as exc:
        log.debug("ledger read failed", exc_info=True)
        url_shown = display_url(url)
        print(
            f"partnercast accuracy: cannot read the ledger at {url_shown}: {exc}", file=sys.stderr
        )
        return 1
    which = f" of model version {args.model_version}" if args.model_version else ""
    if recorded.empty:
        return _nothing_to_score(
            f"no partner forecasts{which} for quarters starting by {last_date.date()} in the "
            f"ledger at {display_url(url)} (record some with 'partnercast forecast' or "
            "'partnercast backtest --ledger')",
            args,
        )
    matured = matured_forecasts(recorded, last_date=last_date)
    if matured.empty:
        return _nothing_to_score(
            f"{len(recorded)} partner forecasts{which} in the ledger, none for a quarter that "
            f"had ended by the data's last date {last_date.date()}: nothing to score yet",
            args,
        )
    calendar = QuarterCalendar(settings.fy_start_month)
    panel = build_revenue_panel(ds, as_of=last_date, calendar=calendar)
    try:
        realised = join_actuals(matured, panel, ds.partners, calendar)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    if realised.unknown_partners:
        shown = ", ".join(realised.unknown_partners[:10])
        more = len(realised.unknown_partners) - 10
        print(
            f"partnercast accuracy: warning: {realised.dropped_forecasts} forecasts of "
            f"{len(realised.unknown_partners)} partner(s) not in {args.data} were left out: "
            f"{shown}" + (f" and {more} more" if more > 0 else ""),
            file=sys.stderr,
        )
    if realised.frame.empty:
        return _nothing_to_score("none of the matured forecasts is of a partner in the data", args)
    report = accuracy_report(realised.frame, coverage_floor=args.coverage_floor)
    print(f"forecasts scored: {len(realised.frame)} (quarters ended by {last_date.date()})")
    print(format_report(report))
    flagged = report[report["low_coverage"]]
    print(
        f"coverage below {args.coverage_floor:.2f}: {len(flagged)} row(s) flagged "
        f"(groups with fewer than {MIN_FLAG_FORECASTS} forecasts are marked small, not flagged)"
    )
    if args.out is not None:
        write_csv_atomically(report, args.out)
        print(f"wrote {len(report)} rows to {args.out}")
    _value_added(realised.frame, panel, settings, args)
    return 0


def _value_added(realised: pd.DataFrame, panel: pd.DataFrame, settings: Settings, args) -> None:
    """Naive -> model -> final (with overrides) WAPE and bias, and overrides that helped."""
    overrides = read_overrides(settings.resolved_ledger_url)
    fva = value_added_report(with_naive_and_final(realised, panel, overrides))
    print("forecast value added (seasonal naive -> model -> final with overrides):")
    print(format_value_added(fva))
    if args.fva is not None:
        write_csv_atomically(fva, args.fva)
        print(f"wrote {len(fva)} rows to {args.fva}")
