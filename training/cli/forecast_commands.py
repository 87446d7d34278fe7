"""The forecaster's CLI commands: ``train``, ``backtest`` and ``forecast``.

Each validates its data first (bad data exits 2 through ``DataContractError``),
logs progress to stderr and prints only results to stdout. ``forecast`` (unless
``--no-ledger``) and ``backtest --ledger`` record their forecasts in the forecast
ledger (``features.reporting.ledger``) after writing their files, in one transaction; when that
fails they say so on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import load_dataset, write_csv_atomically
from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.reporting import ForecastLedger, display_url, forecast_rows
from features.scoring import GROUP_LEVELS, load_champion
from features.settings import Settings
from training.cli.dask_option import check_dask, dask_frames
from training.forecast import (
    ALL_BASELINES,
    MODEL,
    ForecastConfig,
    backtest_forecaster,
    prepare_training_data,
)
from training.jobs import GateDecision, train_all

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
    check_dask(args)
    ds = load_dataset(args.data)
    with dask_frames(args, ds) as frames:
        outcome = train_all(
            ds,
            data_path=args.data,
            as_of=_as_of(args),
            settings=settings,
            backtest=not getattr(args, "no_backtest", False),
            frames=frames,
        )
    forecast, rec = outcome.forecaster, outcome.recommender
    _print_outcome(
        "",
        forecast.run_id,
        forecast.model_name,
        forecast.version,
        forecast.promoted,
        forecast.decision,
        forecast.headline,
    )
    if rec is None:
        print(f"recommender: not trained ({outcome.recommender_skipped})")
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


def _record(command: str, rows: pd.DataFrame, settings: Settings) -> bool:
    """Record ``rows`` in the forecast ledger in one transaction; say so on failure."""
    url = settings.resolved_ledger_url
    try:
        with ForecastLedger(url) as ledger:
            added = ledger.record(rows)
    except Exception as exc:
        log.debug("ledger failure", exc_info=True)
        print(
            f"partnercast {command}: could not record the forecasts in the ledger at "
            f"{display_url(url)} (nothing was recorded; the output files are written): {exc}",
            file=sys.stderr,
        )
        return False
    print(f"ledger: {added} new of {len(rows)} rows -> {display_url(url)}")
    return True


def backtest_ledger_rows(predictions: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Every fold's forecasts of the model and the baselines as ledger rows.

    The model is recorded under the forecaster's registry name, the baselines as
    ``baseline:<name>``; the version is the backtest's own ``run_id`` (so two replays
    stay apart in ``accuracy``) and the as-of date is the fold's cutoff.
    """
    names = {MODEL: FORECASTER_MODEL, **{b: f"baseline:{b}" for b in ALL_BASELINES}}
    parts = []
    for column_prefix, name in names.items():
        if f"{column_prefix}_p50" not in predictions.columns:
            continue
        quantiles = {f"{column_prefix}_{q}": q for q in ("p10", "p50", "p90")}
        frame = predictions[["partner_id", "as_of", "quarter_start", "horizon", *quantiles]]
        parts.append(
            forecast_rows(
                frame.rename(columns=quantiles),
                source="backtest",
                model_name=name,
                model_version=run_id,
                run_id=run_id,
            )
        )
    return pd.concat(parts, ignore_index=True)


def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    check_dask(args)
    ds = load_dataset(args.data)
    calendar = QuarterCalendar(settings.fy_start_month)
    config = ForecastConfig(horizon=args.horizon, folds=args.folds, seed=settings.seed)
    with dask_frames(args, ds) as frames:
        data = prepare_training_data(
            ds,
            as_of=None,
            calendar=calendar,
            **({} if frames is None else {"build_frame": frames.forecast_frame}),
        )
        result = backtest_forecaster(data, config)
    table = result.metrics[["model", "horizon", "metric", "value"]]
    write_csv_atomically(table, args.out)
    summary = table[
        (table["horizon"] == "all")
        & table["metric"].isin(["wape", "bias", "mase", "pinball", "coverage_80"])
    ]
    print(summary.pivot(index="model", columns="metric", values="value").round(4).to_string())
    print(f"wrote {len(table)} rows to {args.out}")
    if args.ledger:
        run_id = f"backtest-{pd.Timestamp.now(tz='UTC'):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        print(f"backtest run: {run_id}")
        if not _record("backtest", backtest_ledger_rows(result.predictions, run_id), settings):
            return 1
    return 0


def cmd_forecast(args: argparse.Namespace, settings: Settings) -> int:
    check_dask(args)
    ds = load_dataset(args.data)
    champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    forecaster = champion.model.forecaster
    as_of = ds.as_of(_as_of(args))
    with dask_frames(args, ds) as frames:
        if frames is None:
            rows = forecaster.scoring_rows(ds, as_of=as_of, horizon=args.horizon)
        else:
            rows = frames.scoring_frame(ds, as_of=as_of, spec=forecaster.spec, horizon=args.horizon)
    forecasts = forecaster.score(rows)
    if args.aggregates is not None:
        levels = forecaster.aggregate_levels(
            list(GROUP_LEVELS), args.horizon, rows=rows, seed=settings.seed
        )
        groups = [frame.assign(level=level) for level, frame in levels.items()]
        aggregates = pd.concat(groups, ignore_index=True)[
            ["level", "group", "quarter_start", "horizon", "p10", "p50", "p90"]
        ]
        write_csv_atomically(aggregates, args.aggregates)
    write_csv_atomically(forecasts, args.out)
    print(f"model: {champion.name} v{champion.version} (run {champion.run_id})")
    print(f"method: {forecaster.method}")
    if forecaster.bundle.is_heuristic:
        log.warning(
            "the champion is the sales-ops estimate (the history was too short to backtest "
            "a model): run-rate plus due pipeline times win rate, intervals from its errors"
        )
    print(f"as_of: {pd.Timestamp(as_of).date()}")
    print(f"partners: {forecasts['partner_id'].nunique()}, rows: {len(forecasts)} -> {args.out}")
    for h, g in forecasts.groupby("horizon"):
        print(f"total h{h} ({g['quarter_start'].iloc[0].date()}): P50 {g['p50'].sum():,.0f}")
    if args.aggregates is not None:
        print(f"aggregates: {len(aggregates)} rows -> {args.aggregates}")
    if args.no_ledger:
        return 0
    provenance = {
        "source": "cli",
        "model_name": champion.name,
        "model_version": forecaster.ledger_version(champion.version),
        "run_id": champion.run_id,
        "as_of": pd.Timestamp(as_of),
    }
    rows = [forecast_rows(forecasts, **provenance)]
    if args.aggregates is not None:
        rows.append(forecast_rows(aggregates, **provenance))
    return 0 if _record("forecast", pd.concat(rows, ignore_index=True), settings) else 1


def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    from training.jobs import tune_forecaster

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
