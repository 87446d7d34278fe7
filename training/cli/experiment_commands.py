"""``partnercast experiment-plan`` and ``partnercast experiment-report``: a holdout test,
from the draw to the reading.

Both are the same library calls as ``POST /experiments/plan`` and ``POST
/experiments/report`` (:mod:`features.reporting.experiment_plan`,
:mod:`features.reporting.experiments`). The plan uses the champion recommender as of
``--as-of`` (its logged tables at its training date, else its models on ``--data``, as
``recommend`` does); ``--incentives FILE`` also writes the plan as next quarter's
``incentives`` rows, to append to the dataset's table once the quarter starts (that is how
the report finds the test). The plan is also logged as a run of the MLflow experiment
``experiments`` (:mod:`training.jobs.experiment_record`: share, budget, seed, strata, the
files), which the report looks up for the quarter it reads. The report reads the
randomized rows of ``--data``; its calibration uses the champion recommender's scoring
tables when there is a champion.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import load_dataset, write_csv_atomically
from features.names import RECOMMENDER_MODEL
from features.reporting.experiment_plan import incentive_rows, plan_experiment
from features.reporting.experiments import read_experiment
from features.scoring import NoChampionError, load_champion
from features.settings import Settings
from training.cli.incentive_commands import recommender_as_of
from training.jobs.experiment_record import (
    find_experiment_plan,
    log_experiment_plan,
    plan_followed,
)

log = logging.getLogger(__name__)


def _dates(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.assign(**{c: pd.to_datetime(frame[c]).dt.date for c in columns})


def cmd_experiment_plan(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    recommender = recommender_as_of(ds, args, settings)
    plan = plan_experiment(
        recommender,
        ds,
        share=args.share,
        budget=args.budget,
        seed=args.seed,
        calendar=QuarterCalendar(settings.fy_start_month),
    )
    write_csv_atomically(_dates(plan.assignments, "starts_on", "ends_on"), args.out)
    if args.incentives is not None:
        write_csv_atomically(_dates(incentive_rows(plan), "starts_on", "ends_on"), args.incentives)
    if args.mde is not None:
        write_csv_atomically(plan.min_detectable_effect, args.mde)
    rows = plan.assignments
    start = plan.quarter_start.date()
    print(f"experiment plan for the quarter starting {start} (seed {plan.seed})")
    print(
        f"partners drawn: {plan.drawn} of {len(rows)} (share asked {plan.share:g}), "
        f"strata: {rows.loc[rows['randomized'], 'stratum'].nunique()}"
    )
    budget = "" if plan.budget is None else f" (budget {plan.budget:,.2f})"
    print(f"drawn arms' expected cost: {plan.randomized_cost:,.0f}{budget}")
    print(
        f"exploration cost (expected net given up against the recommender): "
        f"{plan.exploration_cost:,.0f}"
    )
    for arm, count in rows.loc[rows["randomized"], "arm"].value_counts().sort_index().items():
        mde = plan.min_detectable_effect
        overall = mde[(mde["incentive"] == arm) & (mde["segment"] == "all")]["mde"]
        note = "" if overall.empty else f", detectable effect {overall.iloc[0]:.2f}"
        print(f"  {arm}: {count}{note}")
    run_id = log_experiment_plan(
        plan,
        settings=settings,
        data_dir=args.data,
        recommender_run=recommender.info.get("run_id"),
    )
    print(f"recorded as MLflow run {run_id} (experiment experiments)")
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


def cmd_experiment_report(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    try:
        champion = load_champion(RECOMMENDER_MODEL, settings.resolved_tracking_uri)
        options = champion.model.recommender.options
    except NoChampionError:
        log.info("no recommender champion: the report has no calibration")
        options = None
    report = read_experiment(
        ds,
        calendar=QuarterCalendar(settings.fy_start_month),
        options=options,
        quarter_start=None if args.quarter is None else pd.Timestamp(args.quarter),
        pooled=args.pooled,
    )
    effects = _dates(report.effects, "quarter_start", "last_quarter_start")
    write_csv_atomically(effects, args.out)
    units = report.units
    print(
        f"randomized quarters read: {units['quarter_start'].nunique()}, partners: "
        f"{units['partner_id'].nunique()} ({int((units['arm'] == 'none').sum())} in the none "
        f"arm; {report.floored} with expected revenue lifted to the floor)"
    )
    for row in effects[effects["segment"] == "all"].itertuples(index=False):
        when = str(row.quarter_start)
        if row.quarters > 1:
            when = f"{when}..{row.last_quarter_start} ({row.quarters} quarters)"
        print(
            f"  {when} {row.incentive}: {row.effect:+.3f} "
            f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}] ({row.n_treated} vs {row.n_control})"
        )
    for quarter in sorted(units["quarter_start"].unique())[-1:] if args.quarter else []:
        found = find_experiment_plan(pd.Timestamp(quarter), settings=settings)
        if found is None:
            print(f"no plan run recorded for {pd.Timestamp(quarter).date()}")
            continue
        same, planned = plan_followed(found, units[units["quarter_start"] == quarter])
        p = found["params"]
        print(
            f"plan run {found['run_id']} (share {p.get('share')}, seed {p.get('seed')}): "
            f"{same} of {planned} drawn partners ran their planned arm"
        )
    c = report.calibration
    if pd.notna(c.slope):
        print(
            f"calibration of the champion's predicted uplift ({c.n_treated} treated): slope "
            f"{c.slope:.2f} [{c.slope_ci[0]:.2f}, {c.slope_ci[1]:.2f}], intercept "
            f"{c.intercept:+.3f} [{c.intercept_ci[0]:+.3f}, {c.intercept_ci[1]:+.3f}]"
        )
    print(f"wrote {len(effects)} rows to {args.out}")
    return 0
