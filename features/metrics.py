"""Forecast accuracy metrics, each a plain function of arrays.

All are pooled over the rows given (partners x quarters), which is what a
planner sees in a total: WAPE and bias are weighted by actual revenue, so a big
partner's miss counts more than a small one's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import mean_pinball_loss

QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


def _arrays(*values: ArrayLike) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    if len({a.shape for a in arrays}) != 1:
        raise ValueError(f"metric inputs differ in shape: {[a.shape for a in arrays]}")
    if arrays[0].size == 0:
        raise ValueError("metric needs at least one row")
    return arrays


def wape(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Weighted absolute percentage error: sum |error| / sum |actual|."""
    y, yhat = _arrays(actual, predicted)
    denominator = np.abs(y).sum()
    return float(np.abs(y - yhat).sum() / denominator) if denominator > 0 else float("nan")


def bias(actual: ArrayLike, predicted: ArrayLike) -> float:
    """Signed over-forecast as a share of actual volume (positive = too high)."""
    y, yhat = _arrays(actual, predicted)
    denominator = np.abs(y).sum()
    return float((yhat - y).sum() / denominator) if denominator > 0 else float("nan")


def mase(actual: ArrayLike, predicted: ArrayLike, scale: float) -> float:
    """Mean absolute error divided by ``scale``, the in-sample seasonal-naive MAE."""
    y, yhat = _arrays(actual, predicted)
    if not scale > 0:
        raise ValueError(f"MASE scale must be positive, got {scale}")
    return float(np.abs(y - yhat).mean() / scale)


def seasonal_naive_scale(history: ArrayLike, *, season: int = 4) -> float:
    """Mean |y_t - y_{t-season}| over a (series, time) matrix of past revenue.

    ``history`` is 2-D, one row per series in time order; NaN marks quarters
    before a series existed and is skipped.
    """
    h = np.atleast_2d(np.asarray(history, dtype=float))
    diffs = np.abs(h[:, season:] - h[:, :-season])
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        raise ValueError(f"seasonal naive scale needs more than {season} quarters of history")
    return float(diffs.mean())


def pinball_loss(actual: ArrayLike, quantile_predictions: dict[float, ArrayLike]) -> float:
    """Mean pinball loss over the given quantiles (scikit-learn's, averaged)."""
    y = np.asarray(actual, dtype=float)
    losses = [
        mean_pinball_loss(y, np.asarray(pred, dtype=float), alpha=q)
        for q, pred in sorted(quantile_predictions.items())
    ]
    return float(np.mean(losses))


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of actuals inside [lower, upper]."""
    y, lo, hi = _arrays(actual, lower, upper)
    return float(((y >= lo) & (y <= hi)).mean())
