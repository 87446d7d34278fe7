"""Development worlds for the forecaster: one backtest table across contrasting channels.

    .venv/bin/python benchmarks/dev_worlds.py [--worlds demo,long_cycle,...] [--params JSON]

A stand-in for the scenario suite while it is being built: the demo world plus channels
whose revenue comes from long-cycle pipeline, from run-rate business, or from strong
seasonality with a short history. For each it prints the forecaster's WAPE, the best
baseline's, a dev-only linear reference (ridge on 16 money columns per horizon), the noise
floor of the simulator's truth, the share of the baseline-to-floor gap closed, 80% coverage
(overall and per horizon) and the backtest time. Worlds are cached under ``--cache``.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.calendar import QuarterCalendar  # noqa: E402
from features.data import load_dataset  # noqa: E402
from features.world import WorldParams, simulate_world, write_world  # noqa: E402
from training.forecast import (  # noqa: E402
    MODEL,
    ForecastConfig,
    metrics,
    prepare_training_data,
    rolling_origin_folds,
    run_backtest,
)

log = logging.getLogger("dev_worlds")

# Forecast-relevant worlds of the scenario suite being built in parallel (features/world/
# scenarios.py on the scenarios branch), copied here for development; incentives stay the
# demo world's (they move revenue by a few percent at most).
WORLDS: dict[str, tuple[int, int, WorldParams]] = {
    "demo": (2000, 20, WorldParams()),
    "enterprise": (
        400,
        20,
        WorldParams(
            types=("reseller", "si", "distributor"),
            type_shares=(0.50, 0.35, 0.15),
            type_size_factor=(1.0, 1.3, 3.0),
            tier_shares=(0.15, 0.30, 0.35, 0.20),
            median_size=1_200_000.0,
            size_sigma=0.8,
            pareto_share=0.02,
            ar_sigma=0.10,
            run_rate_share=0.05,
            deals_per_quarter=1.5,
            deals_size_power=0.3,
            deal_sigma=0.5,
            cycle_days_median=260.0,
            cycle_sigma=0.25,
            cycle_days_bounds=(150, 400),
            expected_close_share=0.97,
            expected_close_sd_days=25.0,
            expected_close_bias_days=-15.0,
            credit_note_share=0.02,
        ),
    ),
    "subscription": (
        1500,
        20,
        WorldParams(
            types=("msp", "reseller", "referral"),
            type_shares=(0.70, 0.20, 0.10),
            type_size_factor=(1.0, 0.8, 0.3),
            median_size=120_000.0,
            trend_mean=0.02,
            trend_sd=0.05,
            churn_hazard=0.03,
            churn_fade_quarters=2,
            ar_rho=0.95,
            ar_sigma=0.07,
            seasonality={r: (1.0, 1.0, 1.0, 1.0) for r in ("NA", "EMEA", "APAC", "LATAM")},
            run_rate_share=0.90,
            run_rate_sigma=0.05,
            run_rate_bookings=3.0,
            deals_per_quarter=0.5,
            cycle_days_median=45.0,
            cycle_days_bounds=(7, 180),
        ),
    ),
    "seasonal": (
        1500,
        8,
        WorldParams(
            initial_share=0.30,
            ramp_quarters=(1.0, 4.0),
            seasonality={
                "NA": (0.55, 0.85, 0.80, 1.80),
                "EMEA": (1.00, 1.25, 0.45, 1.30),
                "APAC": (0.70, 1.45, 1.15, 0.70),
                "LATAM": (1.45, 0.80, 0.95, 0.80),
            },
        ),
    ),
    "small_noisy": (
        200,
        20,
        WorldParams(
            ar_sigma=0.30,
            run_rate_sigma=0.40,
            deal_sigma=1.0,
            deals_per_quarter=1.0,
            credit_note_share=0.06,
        ),
    ),
}

RIDGE_COLUMNS = (
    "sales_ops_estimate",
    "run_rate_non_deal",
    "expected_deal_revenue",
    "revenue_target_q_last_year",
    "revenue_lag_1",
    "revenue_lag_2",
    "revenue_lag_3",
    "revenue_lag_4",
    "revenue_mean_4q",
    "won_amount_4q",
    "open_amount",
    "open_amount_weighted",
    "open_amount_close_next_q",
    "open_amount_close_later",
    "open_amount_overdue",
    "created_amount_1q",
)


def ridge_predictions(frame: pd.DataFrame, folds: int, alpha: float = 1.0) -> np.ndarray:
    """Dev-only linear reference: per horizon, ridge in money on 16 columns (scaled)."""
    from sklearn.linear_model import Ridge

    cols = [c for c in RIDGE_COLUMNS if c in frame.columns]
    X = np.nan_to_num(frame[cols].to_numpy(float))
    y = frame["target"].to_numpy(float)
    h = frame["horizon"].to_numpy()
    out = np.full(len(frame), np.nan)
    for fold in rolling_origin_folds(frame, folds=folds):
        for k in np.unique(h[fold.test]):
            tr = fold.train[h[fold.train] == k]
            te = fold.test[h[fold.test] == k]
            sd = X[tr].std(axis=0) + 1e-9
            model = Ridge(alpha=alpha).fit(X[tr] / sd, y[tr])
            out[te] = model.predict(X[te] / sd)
    return out


def reference_predictions(frame: pd.DataFrame, folds: int, path: Path | None) -> np.ndarray:
    """The scenario suite's RidgeReference when its file is given (or merged), else the ridge
    above."""
    try:
        from training.forecast.reference import RidgeReference  # after the merge
    except ImportError:
        if path is None:
            return ridge_predictions(frame, folds)
        import importlib.util

        spec = importlib.util.spec_from_file_location("reference_dev", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        RidgeReference = module.RidgeReference  # noqa: N806
    out = np.full(len(frame), np.nan)
    for fold in rolling_origin_folds(frame, folds=folds):
        model = RidgeReference().fit(frame.iloc[fold.train])
        out[fold.test] = model.predict(frame.iloc[fold.test])
    return out


def load_world(name: str, cache: Path):
    partners, quarters, params = WORLDS[name]
    folder = cache / name
    if not (folder / "partners.csv").exists():
        write_world(simulate_world(partners, quarters, 42, params=params), folder)
    pkl = cache / f"{name}.pkl"
    if pkl.exists():
        return pickle.loads(pkl.read_bytes())
    ds = load_dataset(folder)
    data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar())
    pkl.write_bytes(pickle.dumps((ds, data)))
    return ds, data


def floor_wape(truth_dir: Path, preds: pd.DataFrame) -> float:
    truth = pd.read_csv(truth_dir / "revenue.csv", parse_dates=["quarter_start"])
    joined = preds[["partner_id", "quarter_start", "actual"]].merge(
        truth, on=["partner_id", "quarter_start"], how="left"
    )
    expected = joined["expected_revenue"].fillna(0.0)
    return min(metrics.wape(joined["actual"], f * expected) for f in np.linspace(0.5, 1.2, 71))


def evaluate(name: str, cache: Path, config: ForecastConfig, reference: Path | None = None) -> dict:
    ds, data = load_world(name, cache)
    frame = data.frame[data.frame["horizon"] <= config.horizon].reset_index(drop=True)
    start = time.perf_counter()
    result = run_backtest(frame, data.panel, data.spec, config)
    seconds = time.perf_counter() - start
    preds = result.predictions
    keyed = frame.set_index(["partner_id", "as_of", "horizon"])
    ridge = pd.Series(reference_predictions(frame, config.folds, reference), index=keyed.index)
    preds["ridge_p50"] = ridge.reindex(
        pd.MultiIndex.from_frame(preds[["partner_id", "as_of", "horizon"]])
    ).to_numpy()
    best = result.best_baseline("wape")
    wape = result.metric(MODEL, "wape")
    best_wape = result.metric(best, "wape")
    ridge_wape = metrics.wape(preds["actual"], preds["ridge_p50"])
    floor = floor_wape(cache / name / "_truth", preds)
    reference = min(best_wape, ridge_wape)
    row = {
        "world": name,
        "wape": wape,
        "best_base": best,
        "best_wape": best_wape,
        "ratio": wape / best_wape,
        "ridge": ridge_wape / best_wape,
        "vs_ref": wape / reference,
        "floor": floor / best_wape,
        "gap_closed": (best_wape - wape) / (best_wape - floor) if best_wape > floor else np.nan,
        "cov": result.metric(MODEL, "coverage_80"),
        **{f"cov_h{h}": result.metric(MODEL, "coverage_80", h) for h in range(1, 5)},
        "bias": result.metric(MODEL, "bias"),
        "secs": seconds,
    }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default=",".join(WORLDS))
    parser.add_argument("--params", default="{}", help="ForecastConfig params as JSON")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fc/w3"))
    parser.add_argument("--label", default="")
    parser.add_argument("--reference", type=Path, default=None, help="RidgeReference's file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    args.cache.mkdir(parents=True, exist_ok=True)
    config = ForecastConfig(folds=args.folds, params=json.loads(args.params))
    rows = []
    for name in args.worlds.split(","):
        row = evaluate(name, args.cache, config, args.reference)
        rows.append(row)
        print(json.dumps({"label": args.label, **row}), file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index("world")
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"# {args.label} params={args.params}")
        print(table.round(3).to_string())


if __name__ == "__main__":
    main()
