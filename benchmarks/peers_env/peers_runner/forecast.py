"""Rolling-origin forecasts of the peers on the exact rows of partnercast's backtest.

For each cutoff in ``spec.json`` every peer is fitted on the revenue series up to the cutoff's
quarter and forecasts horizons 1..4 with an 80% interval; its P10/P50/P90 are the interval's
ends and the point forecast. Rows a peer cannot forecast (series too short for it) are left
empty: ``benchmarks/peers.py`` counts and fills them.

- mlforecast: one global LightGBM over all series (recursive), lags 1-4, rolling mean/std of
  the last 4 quarters, the expanding mean, the 4-quarter mean a year back, the fiscal quarter
  and the partner's tier / type / region; conformal intervals ``PredictionIntervals(n_windows=2,
  h=4)``, which need 9 quarters of history per series. The target transform is chosen from a
  small search (none, local standardisation, asinh) on the cutoff one year before the first
  test cutoff, so no test quarter is seen.
- statsforecast: AutoETS (season 4; needs 8 quarters: shorter series raise "tiny datasets")
  and SeasonalNaive (season 4), both with level 80.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from lightgbm import LGBMRegressor
from mlforecast import MLForecast
from mlforecast.lag_transforms import ExpandingMean, RollingMean, RollingStd
from mlforecast.target_transforms import GlobalSklearnTransformer, LocalStandardScaler
from mlforecast.utils import PredictionIntervals
from sklearn.preprocessing import FunctionTransformer
from statsforecast import StatsForecast
from statsforecast.models import AutoETS, SeasonalNaive

from peers_runner.data import quarter_index

log = logging.getLogger("peers.forecast")

H = 4
LEVEL = 80
MLF_MIN_LENGTH = 2 * H + 1  # mlforecast's conformal check: n_windows * h + 1
ETS_MIN_LENGTH = 8
STATIC = ["tier", "partner_type", "region"]
ASINH_SCALE = 1000.0


def fiscal_quarter(ds: np.ndarray) -> np.ndarray:
    """Quarter of the fiscal year (0-3) of an integer quarter index: the seasonal feature."""
    return np.asarray(ds) % 4


def _target_transforms(name: str) -> list | None:
    if name == "none":
        return None
    if name == "local_standard_scaler":
        return [LocalStandardScaler()]
    if name == "asinh":
        return [
            GlobalSklearnTransformer(
                FunctionTransformer(
                    func=lambda y: np.arcsinh(y / ASINH_SCALE),
                    inverse_func=lambda z: np.sinh(z) * ASINH_SCALE,
                )
            )
        ]
    raise ValueError(f"unknown target transform {name!r}")


TARGET_TRANSFORMS = ("none", "local_standard_scaler", "asinh")


def mlforecast_model(seed: int, transform: str) -> MLForecast:
    """mlforecast with LightGBM as its docs set it up for a seasonal series collection."""
    return MLForecast(
        models={"lgbm": LGBMRegressor(n_jobs=1, verbosity=-1, random_state=seed)},
        freq=1,
        lags=[1, 2, 3, 4],
        lag_transforms={
            1: [RollingMean(window_size=4), RollingStd(window_size=4), ExpandingMean()],
            4: [RollingMean(window_size=4)],
        },
        date_features=[fiscal_quarter],
        target_transforms=_target_transforms(transform),
        num_threads=1,
    )


def _long_enough(train: pd.DataFrame, minimum: int) -> pd.DataFrame:
    n = train.groupby("unique_id", observed=True)["ds"].transform("size")
    return train[n >= minimum]


def run_mlforecast(train: pd.DataFrame, seed: int, transform: str) -> pd.DataFrame:
    """Columns unique_id, ds, p10, p50, p90 for the series long enough for conformal."""
    data = _long_enough(train, MLF_MIN_LENGTH)
    model = mlforecast_model(seed, transform)
    model.fit(
        data,
        static_features=STATIC,
        prediction_intervals=PredictionIntervals(n_windows=2, h=H),
    )
    out = model.predict(h=H, level=[LEVEL])
    return pd.DataFrame(
        {
            "unique_id": out["unique_id"],
            "ds": out["ds"],
            "p10": out[f"lgbm-lo-{LEVEL}"],
            "p50": out["lgbm"],
            "p90": out[f"lgbm-hi-{LEVEL}"],
        }
    )


def run_statsforecast(train: pd.DataFrame, model, minimum: int) -> pd.DataFrame:
    data = _long_enough(train, minimum)[["unique_id", "ds", "y"]]
    data = data.assign(unique_id=data["unique_id"].astype(str))
    out = StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=data, h=H, level=[LEVEL])
    name = repr(model)
    return pd.DataFrame(
        {
            "unique_id": out["unique_id"],
            "ds": out["ds"],
            "p10": out[f"{name}-lo-{LEVEL}"],
            "p50": out[name],
            "p90": out[f"{name}-hi-{LEVEL}"],
        }
    )


def choose_transform(series: pd.DataFrame, first_q0: int, seed: int) -> tuple[str, dict]:
    """Target transform with the lowest WAPE (h 1-4) at the cutoff a year before the tests."""
    q0 = first_q0 - H
    train = series[series["ds"] <= q0]
    actual = series[(series["ds"] > q0) & (series["ds"] <= first_q0)]
    scores = {}
    for name in TARGET_TRANSFORMS:
        pred = run_mlforecast(train, seed, name).merge(actual, on=["unique_id", "ds"])
        scores[name] = float(np.abs(pred["y"] - pred["p50"]).sum() / np.abs(pred["y"]).sum())
        log.info("mlforecast search: target transform %s, validation WAPE %.4f", name, scores[name])
    return min(scores, key=scores.get), scores


def settings(transform: str) -> list[str]:
    """What each peer ran with, for the lines under the table."""
    return [
        f"mlforecast {version('mlforecast')}: `MLForecast(models=LGBMRegressor(n_jobs=1, "
        "otherwise defaults), freq=1, lags=[1, 2, 3, 4], lag_transforms={1: [RollingMean(4), "
        "RollingStd(4), ExpandingMean()], 4: [RollingMean(4)]}, date_features=[fiscal quarter], "
        f"target_transforms={transform})`, static tier / partner type / region, recursive "
        "horizons 1-4, conformal `PredictionIntervals(n_windows=2, h=4)` at level 80 (P10/P90 "
        "are its 80% bounds), series with 9+ quarters (its minimum for those intervals)",
        f"statsforecast {version('statsforecast')}: `AutoETS(season_length=4)` (series with 8+ "
        "quarters; shorter ones raise 'tiny datasets') and `SeasonalNaive(season_length=4)`, "
        "level 80, `n_jobs=1`",
    ]


def _warm_up() -> None:
    """Compile statsforecast's numba code once, outside the timings (a one-off per machine)."""
    y = np.abs(np.sin(np.arange(12.0))) * 100 + 50
    tiny = pd.DataFrame({"unique_id": "warm", "ds": np.arange(12), "y": y})
    for model in (AutoETS(season_length=4), SeasonalNaive(season_length=4)):
        StatsForecast(models=[model], freq=1, n_jobs=1).forecast(df=tiny, h=H, level=[LEVEL])


def forecast_peers(
    series: pd.DataFrame, rows: pd.DataFrame, fy_start_month: int, seed: int
) -> tuple[dict[str, pd.DataFrame], dict]:
    """Predictions per peer on ``rows`` (partner_id, as_of, horizon) and run info."""
    warnings.filterwarnings("ignore")
    rows = rows.assign(
        q0=quarter_index(pd.to_datetime(rows["as_of"]), fy_start_month),
    )
    rows["ds"] = rows["q0"] + rows["horizon"]
    cutoffs = np.sort(rows["q0"].unique())
    began = time.perf_counter()
    transform, scores = choose_transform(series, int(cutoffs[0]), seed)
    info: dict = {
        "settings": settings(transform),
        "mlforecast_target_transform": transform,
        "mlforecast_search_wape": scores,
        "mlforecast_search_seconds": time.perf_counter() - began,
    }
    began = time.perf_counter()
    _warm_up()
    info["statsforecast_jit_warm_up_seconds"] = time.perf_counter() - began
    peers: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
        "mlforecast": lambda train: run_mlforecast(train, seed, transform),
        "statsforecast_autoets": lambda train: run_statsforecast(
            train, AutoETS(season_length=4), ETS_MIN_LENGTH
        ),
        "statsforecast_seasonal_naive": lambda train: run_statsforecast(
            train, SeasonalNaive(season_length=4), 1
        ),
    }
    out: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    for name, fit_predict in peers.items():
        parts = []
        seconds[name] = 0.0
        for q0 in cutoffs:
            train = series[series["ds"] <= q0]
            start = time.perf_counter()
            pred = fit_predict(train)
            seconds[name] += time.perf_counter() - start
            fold = rows[rows["q0"] == q0]
            parts.append(
                fold.merge(
                    pred.assign(unique_id=pred["unique_id"].astype(str)),
                    left_on=["partner_id", "ds"],
                    right_on=["unique_id", "ds"],
                    how="left",
                )
            )
            log.info(
                "%s: cutoff %s done (%.0fs so far)", name, fold["as_of"].iloc[0], seconds[name]
            )
        joined = pd.concat(parts, ignore_index=True)
        out[name] = joined[["partner_id", "as_of", "horizon", "p10", "p50", "p90"]]
    info["fit_predict_seconds"] = seconds
    actual = rows.merge(
        series[["unique_id", "ds", "y"]].assign(unique_id=lambda f: f["unique_id"].astype(str)),
        left_on=["partner_id", "ds"],
        right_on=["unique_id", "ds"],
        how="left",
    )
    out["_actual"] = actual[["partner_id", "as_of", "horizon"]].assign(actual=actual["y"])
    return out, info


def write_forecasts(exchange: Path, spec: dict, series: pd.DataFrame) -> None:
    rows = pd.read_parquet(exchange / "forecast_rows.parquet")
    rows["partner_id"] = rows["partner_id"].astype(str)
    preds, info = forecast_peers(series, rows, spec["fy_start_month"], spec["seed"])
    for name, frame in preds.items():
        frame.to_parquet(exchange / f"forecast_{name.lstrip('_')}.parquet", index=False)
    (exchange / "forecast_info.json").write_text(json.dumps(info, indent=2))
