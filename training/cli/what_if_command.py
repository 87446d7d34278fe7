"""``partnercast what-if``: what an incentive plan is expected to add to next quarter.

The numbers come from :func:`features.reporting.what_if`, the same call as ``POST
/what-if``, on the champion recommender as of ``--as-of`` (its logged tables when that is
its training date, else its models on ``--data`` as of that date, as ``recommend`` does).
``--plan FILE.csv`` has ``incentive`` and ``partner_id`` or segment columns (``region``,
``tier``, ``partner_type``; empty cells are absent); ``--recommended`` takes the
recommender's own plan instead. ``--out`` gets one row per group (region, tier, partner
type, total): ``group_by, group, quarter_start, delta_p10, delta_p50, delta_p90,
partners_treated, cost, expected_net``; ``--partners`` and ``--rows`` write each partner's
incentive and each plan row's partners, cost, net and whether the budget kept it. A plan
that cannot be applied exits 2 with the rows to fix (lines of the file, header = line 1).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, load_dataset, write_csv_atomically
from features.reporting.what_if import PlanError, evaluate_plan, plan_frame
from features.settings import Settings
from training.cli.incentive_commands import recommender_as_of

log = logging.getLogger(__name__)


def read_plan(path: Path) -> pd.DataFrame:
    """The plan CSV as text cells (nothing parsed as numbers or NaN), shape-checked."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise BadInput(f"plan file {path} does not exist") from None
    except pd.errors.EmptyDataError:
        raise BadInput(
            f"plan file {path} is empty: it needs a header (partner_id or region, tier, "
            "partner_type, and incentive) and at least one row"
        ) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise BadInput(f"cannot read plan file {path} as CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    try:
        return plan_frame(frame)
    except PlanError as exc:
        raise BadInput(f"{path}: {exc}") from None


def cmd_what_if(args: argparse.Namespace, settings: Settings) -> int:
    plan = None if args.plan is None else read_plan(args.plan)
    ds = load_dataset(args.data)
    recommender = recommender_as_of(ds, args, settings)
    labels = None if plan is None else [f"line {i + 2}" for i in range(len(plan))]
    try:
        result = evaluate_plan(
            recommender,
            plan,
            budget=args.budget,
            calendar=QuarterCalendar(settings.fy_start_month),
            labels=labels,
        )
    except PlanError as exc:
        raise BadInput(f"{args.plan}: {exc}") from None
    write_csv_atomically(result.groups, args.out)
    if args.partners is not None:
        write_csv_atomically(result.partners, args.partners)
    if args.rows is not None and plan is not None:
        write_csv_atomically(result.rows, args.rows)
    source = "the recommender's plan" if plan is None else f"{args.plan} ({len(plan)} rows)"
    print(f"what-if for the quarter starting {result.quarter_start.date()}: {source}")
    print(f"partners with an incentive: {result.partners_treated} of {len(result.partners)}")
    budget = "" if args.budget is None else f" (budget {args.budget:,.2f})"
    print(f"cost: {result.cost:,.2f}{budget}")
    if result.has_intervals:
        print(
            f"expected net: {result.expected_net:,.0f} (80% interval "
            f"{result.expected_net_p10:,.0f} to {result.expected_net_p90:,.0f})"
        )
    else:
        print(f"expected net: {result.expected_net:,.0f} (the model has no intervals)")
    for row in result.rows[~result.rows["kept"].astype(bool)].itertuples(index=False):
        print(
            f"  dropped by the budget: {row.label} ({row.incentive}, {row.partners} partners, "
            f"cost {row.cost:,.0f}, net {row.expected_net:,.0f})"
        )
    print(f"wrote {len(result.groups)} group rows to {args.out}")
    return 0
