"""Forecaster benchmark: rolling-origin backtest on the demo world, against baselines.

    .venv/bin/python benchmarks/forecast.py [--partners 2000] [--quarters 20] [--seed 42]
    .venv/bin/python benchmarks/forecast.py --data DIR          # any dataset in the contract
    .venv/bin/python benchmarks/forecast.py --quick             # the default model only

Prints markdown tables: every model and baseline over all horizons (WAPE and its
ratio to the best baseline, bias, MASE, pinball loss, 80% coverage), WAPE by
horizon, what each design choice bought (the same backtest with the choice
undone), the backtest's time (the forecaster's fit + predict also in CPU time,
which the machine's load moves less than wall time), the time to fit the
deployed model, and, on the demo world, the WAPE of the simulator's own
expected revenue (the noise floor no forecaster beats
by much).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.calendar import QuarterCalendar  # noqa: E402
from features.data import load_dataset  # noqa: E402
from features.world import simulate_world, write_world  # noqa: E402
from training.forecast import (  # noqa: E402
    MODEL,
    BacktestResult,
    ForecastConfig,
    backtest_forecaster,
    fit_forecaster,
    group_backtest,
    prepare_training_data,
)
from training.forecast.reference import expected_on_test_rows, floor_wape  # noqa: E402

VARIANTS: dict[str, dict] = {
    "plain target (no asinh)": {"transform": "none"},
    "no sales-ops offset": {"offset_column": None},
    "no conformal correction": {"conformal": False},
    "every feature (no screen)": {"max_features": None},
    "money-weighted loss (size^0.5)": {"size_weight": 0.5, "weight_column": "sales_ops_estimate"},
    "blend trees with the offset": {"blend_offset": True},
}


def _summary(result: BacktestResult, label: str | None = None) -> pd.DataFrame:
    m = result.metrics
    table = m[m["horizon"] == "all"].pivot(index="model", columns="metric", values="value")
    best = result.best_baseline("wape")
    table["wape_vs_best_baseline"] = table["wape"] / table.loc[best, "wape"]
    cols = ["wape", "wape_vs_best_baseline", "bias", "mase", "pinball", "coverage_80"]
    table = table[cols].sort_values("wape")
    if label is not None:
        table = table.loc[[MODEL]].rename(index={MODEL: label})
    return table


def _markdown(frame: pd.DataFrame, index_name: str) -> str:
    frame = frame.reset_index().rename(columns={frame.index.name or "index": index_name})
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(frame.columns))) + "|"
    rows = [
        "| "
        + " | ".join(
            f"{v:,.3f}"
            if isinstance(v, float) and abs(v) < 100
            else (f"{v:,.0f}" if isinstance(v, float) else str(v))
            for v in row
        )
        + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *rows])


def _oracle_wape(truth_dir: Path, result: BacktestResult) -> tuple[float, float, float] | None:
    """WAPE of the simulator's expected revenue on the test rows, and of it scaled by the
    factor (0.5-1.2) that scores best on those same rows, with that factor: a forecast
    that knew each partner-quarter's true expected revenue (more than any model can know
    one to four quarters ahead), even shrunk optimally towards the median in hindsight."""
    path = truth_dir / "revenue.csv"
    if not path.exists():
        return None
    truth = pd.read_csv(path, parse_dates=["quarter_start"])
    joined = expected_on_test_rows(result.predictions, truth)
    return floor_wape(joined["actual"], joined["expected_revenue"], np.linspace(0.5, 1.2, 71))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--quarters", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="skip the design-choice variants")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if data_dir is None:
            data_dir = Path(tmp) / "demo"
            print(
                f"simulating {args.partners} partners x {args.quarters} quarters "
                f"(seed {args.seed})",
                file=sys.stderr,
            )
            write_world(simulate_world(args.partners, args.quarters, args.seed), data_dir)
        ds = load_dataset(data_dir)
        data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar())
        config = ForecastConfig(folds=args.folds, seed=args.seed)

        print("backtest: default model and baselines", file=sys.stderr)
        start = time.perf_counter()
        result = backtest_forecaster(data, config)
        backtest_s = time.perf_counter() - start
        start = time.perf_counter()
        fit_forecaster(ds, data, config, rho=result.rho)
        fit_s = time.perf_counter() - start
        oracle = _oracle_wape(Path(data_dir) / "_truth", result)
        estimator = config.estimator()
        groups = group_backtest(
            result, data.frame, transform=estimator.transform, scale=estimator.scale
        ).pivot(index="level", columns="metric", values="value")

        variants = []
        if not args.quick:
            for label, params in VARIANTS.items():
                print(f"backtest: {label}", file=sys.stderr)
                variant = ForecastConfig(folds=args.folds, seed=args.seed, params=params)
                variants.append(_summary(backtest_forecaster(data, variant), label))

    by_h = result.metrics[
        (result.metrics["metric"] == "wape") & (result.metrics["horizon"] != "all")
    ]
    by_h = by_h.pivot(index="model", columns="horizon", values="value")
    by_h.columns = [f"h{c}" for c in by_h.columns]
    title = (
        f"data {args.data}"
        if args.data
        else (f"demo world {args.partners} partners x {args.quarters} quarters, seed {args.seed}")
    )
    print(
        f"## Forecaster backtest: {title}, {args.folds} folds, horizons 1-4, "
        f"{len(result.predictions):,} test rows\n"
    )
    print(_markdown(_summary(result), "model"))
    print("\n### WAPE by horizon\n")
    print(_markdown(by_h.sort_values("h1"), "model"))
    print("\n### Group forecasts on the same folds (region, tier, partner type, total)\n")
    print(_markdown(groups, "level"))
    if variants:
        print("\n### What each choice bought (the default model with the choice undone)\n")
        base = _summary(result, "default model")
        print(_markdown(pd.concat([base, *variants]), "variant"))
    print(
        f"\nbacktest time: {backtest_s:.0f} s (the forecaster's fit + predict over the folds: "
        f"{result.model_seconds:.1f} s wall, {result.model_cpu_seconds:.1f} s CPU); fitting "
        f"the deployed model: {fit_s:.0f} s on {len(data.frame):,} rows x "
        f"{len(data.spec.feature_columns)} features"
    )
    if oracle is not None:
        plain, shrunk, factor = oracle
        best_baseline = result.metric(result.best_baseline("wape"), "wape")
        print(
            f"noise floor: the simulator's expected revenue scores WAPE {plain:.3f} on the same "
            f"rows; scaled by the best factor in hindsight ({factor:.2f}) {shrunk:.3f}, "
            f"{shrunk / best_baseline:.3f} x the best baseline's WAPE"
        )
    print(
        f"copula rho by horizon (group intervals): "
        f"{ {h: round(r, 3) for h, r in result.rho.items()} }"
    )


if __name__ == "__main__":
    main()
