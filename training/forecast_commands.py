"""The forecaster's CLI commands: ``train``, ``backtest`` and ``forecast``.

Each validates its data first (bad data exits 2 through ``DataContractError``),
logs progress to stderr and prints only results to stdout.
"""

from __future__ import annotations

import argparse
import logging

import pandas as pd

from features.calendar import QuarterCalendar
from features.loader import load_dataset
from features.model_store import FORECASTER_MODEL, RECOMMENDER_MODEL, load_champion
from features.partner_forecaster import GROUP_LEVELS
from features.settings import Settings
from training.backtest import ForecastConfig
from training.forecaster import backtest_forecaster, prepare_training_data
from training.outputs import write_csv_atomically
from training.tracking import GateDecision, configure_tracking
from training.train import train_forecaster
from training.train_recommender import train_recommender

log = logging.getLogger(__name__)


def _as_of(args: argparse.Namespace) -> pd.Timestamp | None:
    return pd.Timestamp(args.as_of) if getattr(args, "as_of", None) else None


def _print_outcome(
    prefix: str,
    run_id: str,
    name: str,
    version: str,
    promoted: bool,
    decision: GateDecision,
    headline: dict,
) -> None:
    """A training run's result lines: run id, version, gate reasons, headline metrics."""
    print(f"{prefix}run_id: {run_id}")
    print(f"model: {name} v{version} ({'promoted to champion' if promoted else 'not promoted'})")
    for reason in decision.reasons:
        print(f"quality gate: {reason}")
    for key, value in headline.items():
        print(f"{key}: {value}")


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    outcome = train_forecaster(ds, data_path=args.data, as_of=_as_of(args), settings=settings)
    _print_outcome(
        "",
        outcome.run_id,
        outcome.model_name,
        outcome.version,
        outcome.promoted,
        outcome.decision,
        outcome.headline,
    )
    rec = train_recommender(
        ds,
        outcome.data,
        outcome.forecaster,
        client=configure_tracking(settings),
        experiment_id=outcome.experiment_id,
        seed=settings.seed,
    )
    if rec is None:
        print("recommender: not trained (the dataset has no incentives)")
        return 0
    _print_outcome(
        "recommender ",
        rec.run_id,
        RECOMMENDER_MODEL,
        rec.version,
        rec.promoted,
        rec.decision,
        rec.headline,
    )
    return 0


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar(settings.fy_start_month))
    config = ForecastConfig(horizon=args.horizon, folds=args.folds, seed=settings.seed)
    result = backtest_forecaster(data, config)
    table = result.metrics[["model", "horizon", "metric", "value"]]
    write_csv_atomically(table, args.out)
    summary = table[
        (table["horizon"] == "all")
        & table["metric"].isin(["wape", "bias", "mase", "pinball", "coverage_80"])
    ]
    print(summary.pivot(index="model", columns="metric", values="value").round(4).to_string())
    print(f"wrote {len(table)} rows to {args.out}")
    return 0


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    forecaster = champion.model.forecaster
    as_of = _as_of(args) or ds.last_date
    rows = forecaster.scoring_rows(ds, as_of=as_of, horizon=args.horizon)
    forecasts = forecaster.score(rows)
    if args.aggregates is not None:
        groups = [
            forecaster.aggregate(level, args.horizon, rows=rows, seed=settings.seed).assign(
                level=level
            )
            for level in GROUP_LEVELS
        ]
        aggregates = pd.concat(groups, ignore_index=True)[
            ["level", "group", "quarter_start", "horizon", "p10", "p50", "p90"]
        ]
        write_csv_atomically(aggregates, args.aggregates)
    write_csv_atomically(forecasts, args.out)
    print(f"model: {champion.name} v{champion.version} (run {champion.run_id})")
    print(f"as_of: {pd.Timestamp(as_of).date()}")
    print(f"partners: {forecasts['partner_id'].nunique()}, rows: {len(forecasts)} -> {args.out}")
    for h, g in forecasts.groupby("horizon"):
        print(f"total h{h} ({g['quarter_start'].iloc[0].date()}): P50 {g['p50'].sum():,.0f}")
    if args.aggregates is not None:
        print(f"aggregates: {len(aggregates)} rows -> {args.aggregates}")
    return 0


def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    from training.tuning import tune_forecaster

    ds = load_dataset(args.data)
    outcome = tune_forecaster(
        ds, data_path=args.data, settings=settings, trials=args.trials, folds=args.folds
    )
    print(f"run_id: {outcome.run_id}")
    print(f"trials: {outcome.trials} ({outcome.pruned} pruned)")
    print(f"default WAPE: {outcome.default_wape:.4f}")
    print(
        f"best WAPE: {outcome.best_wape:.4f} "
        f"(ratio {outcome.best_wape / outcome.default_wape:.3f} of the default)"
    )
    print(f"best parameters (used by the next train): {outcome.best_params}")
    return 0
