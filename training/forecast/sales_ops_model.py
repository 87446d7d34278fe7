"""The sales-ops estimate packaged as a forecaster, for programs too young to backtest.

With fewer than two quarter-end cutoffs that have a known next quarter (two quarters of
bookings or less), no rolling-origin fold exists, so nothing can show that a fitted model
beats a simple rule. The champion is then the rule a sales-operations analyst would use:
run-rate plus the pipeline due in the quarter times the win rate
(``features.families.sales_ops_estimate``, the forecaster's own starting point). It is not
fitted to the outcomes, so its errors on the quarters that did close are honest
out-of-sample errors; their 10th and 90th percentiles per horizon (in the model's asinh
space) give the P10 and P90. Horizons with no closed quarter yet borrow the longest
measured horizon's spread, widened by the square root of the horizon ratio (errors of a
run-rate grow about like a random walk's).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.data import Dataset
from features.frames import build_scoring_frame
from features.metrics import coverage, wape
from features.scoring import MAX_HORIZON, PartnerForecaster
from features.scoring.aggregation import estimate_rho, split_normal_scores
from features.scoring.quantiles import QuantileBundle, forward_transform
from training.forecast.training_data import TrainingData

log = logging.getLogger(__name__)

KIND = "sales_ops_estimate"
"""``info["kind"]`` of the forecaster (``/model-info``, forecasts and the ledger show it)."""
OFFSET = "sales_ops_estimate"
MIN_ERRORS = 10
"""Closed partner-quarters a horizon needs for its own spread."""


def error_spreads(
    actual: np.ndarray,
    point: np.ndarray,
    horizon: np.ndarray,
    *,
    transform: str = "asinh",
    scale: float = 1000.0,
    max_horizon: int = MAX_HORIZON,
) -> dict[int, tuple[float, float]]:
    """Per horizon 1..``max_horizon``, the 10th and 90th percentiles of ``actual - point``
    in model space; horizons with fewer than :data:`MIN_ERRORS` errors take the longest
    measured horizon's, times sqrt(h / that horizon)."""
    r = forward_transform(actual, transform, scale) - forward_transform(point, transform, scale)
    horizon = np.asarray(horizon, dtype=int)
    measured = {}
    for h in range(1, max_horizon + 1):
        rh = r[horizon == h]
        if len(rh) >= MIN_ERRORS:
            measured[h] = (float(np.quantile(rh, 0.1)), float(np.quantile(rh, 0.9)))
    if not measured:
        if len(r) == 0:
            raise ValueError("no closed quarter to measure the sales-ops estimate's errors on")
        measured[1] = (float(np.quantile(r, 0.1)), float(np.quantile(r, 0.9)))
    out = {}
    for h in range(1, max_horizon + 1):
        if h in measured:
            out[h] = measured[h]
            continue
        ref = max(k for k in measured if k < h) if any(k < h for k in measured) else min(measured)
        widen = np.sqrt(h / ref)
        out[h] = (measured[ref][0] * widen, measured[ref][1] * widen)
    return out


def fit_sales_ops_forecaster(
    ds: Dataset,
    data: TrainingData,
    *,
    transform: str = "asinh",
    scale: float = 1000.0,
    info: dict | None = None,
) -> tuple[PartnerForecaster, dict[str, float]]:
    """The sales-ops estimate as a :class:`PartnerForecaster`, and its measured numbers
    (errors it was sized on, their WAPE and the share inside its own P10..P90)."""
    frame = data.frame
    actual = frame["target"].to_numpy(float)
    point = np.nan_to_num(frame[OFFSET].to_numpy(float), nan=0.0)
    horizon = frame["horizon"].to_numpy(int)
    spreads = error_spreads(actual, point, horizon, transform=transform, scale=scale)
    bundle = QuantileBundle(
        boosters={},
        feature_names=(OFFSET,),
        transform=transform,
        scale=scale,
        offset_column=OFFSET,
        spreads=spreads,
    )
    q = bundle.predict_quantiles(frame, horizon=horizon)
    measured = {
        "error_rows": float(len(frame)),
        "wape_in_sample": wape(actual, point),
        "coverage_80_in_sample": coverage(actual, q["p10"], q["p90"]),
    }
    scores = pd.DataFrame(
        {
            "as_of": frame["as_of"].to_numpy(),
            "horizon": horizon,
            "z": split_normal_scores(
                actual, q["p10"].to_numpy(), q["p50"].to_numpy(), q["p90"].to_numpy()
            ),
        }
    )
    rho = {int(h): estimate_rho(g) for h, g in scores.groupby("horizon")}
    log.info(
        "sales-ops estimate as the forecaster: spreads by horizon %s, sized on %d closed "
        "partner-quarters (80%% coverage on them %.3f)",
        {h: (round(lo, 3), round(hi, 3)) for h, (lo, hi) in spreads.items()},
        len(frame),
        measured["coverage_80_in_sample"],
    )
    snapshot = build_scoring_frame(ds, as_of=data.as_of, spec=data.spec, horizon=MAX_HORIZON)
    forecaster = PartnerForecaster(
        bundle=bundle,
        spec=data.spec,
        snapshot=snapshot,
        as_of=data.as_of,
        rho=rho,
        info={**(info or {}), "kind": KIND, "backtested": False},
    )
    return forecaster, measured
