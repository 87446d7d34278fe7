"""``partnercast changes``: what moved in the forecast since a date, and why, in money.

The numbers come from :func:`features.reporting.changes.ledger_changes`, the same call as
``POST /forecast/changes``: the champion forecaster on ``--data`` as of ``--since`` and as
of ``--as-of``, the ledger's recorded forecasts (model version changes) and the planners'
overrides. One row per partner or group, the biggest moves first: ``partner_id`` (or
``group``), ``quarter_start, p50_then, p50_now, delta`` and one column per cause, which
add up to ``delta``. ``--snapshots FILE.csv`` also writes the forecast as it stood at the
end of each week, from the ledger.
"""

from __future__ import annotations

import argparse
import logging

from features.calendar import QuarterCalendar
from features.data import load_dataset, write_csv_atomically
from features.names import FORECASTER_MODEL
from features.reporting.changes import CAUSES, ledger_changes
from features.scoring import load_champion
from features.settings import Settings

log = logging.getLogger(__name__)


def cmd_changes(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    as_of = ds.as_of(args.as_of)
    champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    group_by = None if args.group_by == "partner" else args.group_by
    frame, weeks = ledger_changes(
        ds,
        champion.model.forecaster,
        ledger_url=settings.resolved_ledger_url,
        since=args.since,
        as_of=as_of,
        calendar=QuarterCalendar(settings.fy_start_month),
        model_name=champion.name,
        model_version=champion.model.forecaster.ledger_version(champion.version),
        quarter_start=args.quarter,
        group_by=group_by,
    )
    frame = frame.rename(columns={"key": "partner_id" if group_by is None else "group"})
    if args.top is not None:
        frame = frame.head(args.top)
    write_csv_atomically(frame, args.out)
    if args.snapshots is not None:
        write_csv_atomically(weeks, args.snapshots)
    key = frame.columns[0]
    quarter = frame["quarter_start"].iloc[0].date() if len(frame) else args.quarter
    print(f"forecast of the quarter starting {quarter}: since {args.since} to {as_of.date()}")
    print(f"total move: {frame['delta'].sum():,.0f} = " + " ".join(
        f"{c} {frame[c].sum():+,.0f}" for c in CAUSES if frame[c].abs().sum() > 0
    ))  # fmt: skip
    for _, row in frame.head(5).iterrows():
        print(
            f"  {row[key]}: {row['p50_then']:,.0f} -> {row['p50_now']:,.0f} ({row['delta']:+,.0f})"
        )
    print(f"wrote {len(frame)} rows to {args.out}")
    return 0
