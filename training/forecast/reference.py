"""A reference forecaster a good analyst would write in an afternoon: weighted ridge regression.

The quantile booster is judged against the naive baselines, but beating "mean of the last
four quarters" is a low bar. On a channel world built independently of the demo world
(issue 14), a weighted linear regression on four pipeline and revenue-history signals by
quarter of year scored WAPE 0.314 where the booster scored 0.329. :class:`RidgeReference`
is that kind of model, made a little stronger, so every backtest can say how the booster
does against a strong simple model on the same folds:

- **12 features** from the forecast frame (:data:`REFERENCE_FEATURES`): revenue lags 1-4,
  the 4- and 8-quarter means, the same quarter last year, won amount over 4 quarters,
  run-rate (non-deal) revenue, and the open pipeline expected to close next quarter,
  later, and weighted by win rate. Missing values count as 0.
- **One model per horizon**, with coefficients **by target quarter of year**: shared
  coefficients plus a per-quarter deviation of each (``by_quarter``), so a quarter unseen
  in training falls back to the shared ones; all shrunk by the same ridge ``alpha`` on
  standardised columns (the intercepts are not penalised).
- **Level target** (money): expected revenue is close to linear in these signals
  (pipeline x win rate + run-rate), and WAPE is scored in money; an asinh target would
  turn the sums back into products.
- **Weights** ``1 / s`` with ``s = max(revenue_mean_4q, size_floor_)``: quarterly revenue's
  spread grows with partner size (roughly as size to a power between 1 and 2), so
  unweighted least squares would be fitted to the five biggest partners; ``1 / s`` is the
  compromise between that and a purely relative fit. ``size_floor_`` is ``floor_share``
  of the mean target, so new partners with no history do not get unbounded weight.

Predictions are clipped at 0. It gives a point forecast only (column ``p50``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge
from sklearn.utils.validation import check_is_fitted

from features import metrics
from training.forecast.splits import rolling_origin_folds

REFERENCE = "ridge_reference"
KEYS = ["partner_id", "as_of", "horizon", "quarter_start"]
REFERENCE_FEATURES: tuple[str, ...] = (
    "revenue_lag_1",
    "revenue_lag_2",
    "revenue_lag_3",
    "revenue_lag_4",
    "revenue_mean_4q",
    "revenue_mean_8q",
    "revenue_target_q_last_year",
    "won_amount_4q",
    "run_rate_non_deal",
    "open_amount_close_next_q",
    "open_amount_close_later",
    "open_amount_weighted",
)
SIZE_COLUMN = "revenue_mean_4q"
QUARTER_COLUMN = "target_fiscal_quarter"


class RidgeReference(BaseEstimator):
    """Weighted ridge regression per horizon on a dozen history and pipeline signals."""

    def __init__(
        self,
        features: Sequence[str] = REFERENCE_FEATURES,
        *,
        alpha: float = 1.0,
        by_quarter: bool = True,
        floor_share: float = 0.05,
    ) -> None:
        self.features = features
        self.alpha = alpha
        self.by_quarter = by_quarter
        self.floor_share = floor_share

    def _design(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[list(self.features)].to_numpy(dtype=np.float64, na_value=np.nan)
        x = np.nan_to_num(x, nan=0.0)
        if not self.by_quarter:
            return x
        quarter = frame[QUARTER_COLUMN].to_numpy(dtype=np.float64, na_value=0.0)
        onehot = (quarter[:, None] == np.arange(1, 5)[None, :]).astype(np.float64)
        deviations = (onehot[:, :, None] * x[:, None, :]).reshape(len(x), -1)
        return np.hstack([x, onehot, deviations])

    def _weights(self, frame: pd.DataFrame) -> np.ndarray:
        size = frame[SIZE_COLUMN].to_numpy(dtype=np.float64, na_value=0.0)
        return 1.0 / np.maximum(np.nan_to_num(size), self.size_floor_)

    def fit(self, frame: pd.DataFrame, y: np.ndarray | None = None) -> RidgeReference:
        """Fit on a forecast frame (``features.frames.build_forecast_frame`` rows).

        ``y`` defaults to the frame's ``target`` column.
        """
        target = frame["target"].to_numpy(np.float64) if y is None else np.asarray(y, float)
        self.size_floor_ = max(self.floor_share * float(np.mean(np.abs(target))), 1e-9)
        x, w = self._design(frame), self._weights(frame)
        horizon = frame["horizon"].to_numpy()
        self.models_: dict[int, tuple[Ridge, np.ndarray, np.ndarray]] = {}
        for h in np.unique(horizon):
            rows = horizon == h
            xh, wh = x[rows], w[rows]
            mean = np.average(xh, axis=0, weights=wh)
            sd = np.sqrt(np.average((xh - mean) ** 2, axis=0, weights=wh))
            sd = np.where(sd > 0, sd, 1.0)
            model = Ridge(alpha=self.alpha).fit((xh - mean) / sd, target[rows], sample_weight=wh)
            self.models_[int(h)] = (model, mean, sd)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Point forecasts (money, at least 0) for each row; a horizon unseen in training
        uses the nearest fitted one."""
        check_is_fitted(self, "models_")
        x = self._design(frame)
        horizon = frame["horizon"].to_numpy()
        out = np.zeros(len(frame))
        fitted = np.array(sorted(self.models_))
        for h in np.unique(horizon):
            rows = horizon == h
            model, mean, sd = self.models_[int(fitted[np.argmin(np.abs(fitted - h))])]
            out[rows] = model.predict((x[rows] - mean) / sd)
        return np.maximum(out, 0.0)


def backtest_reference(
    frame: pd.DataFrame,
    *,
    folds: int,
    horizon: int,
    estimator: RidgeReference | None = None,
) -> pd.DataFrame:
    """The reference's test-fold forecasts on the folds ``run_backtest`` uses.

    Same filtering (``horizon <= horizon``) and the same ``rolling_origin_folds``, so the
    rows line up with ``BacktestResult.predictions`` on :data:`KEYS`. Columns: the keys and
    ``ridge_reference_p50``.
    """
    frame = frame[frame["horizon"] <= horizon].reset_index(drop=True)
    base = estimator or RidgeReference()
    parts = []
    for fold in rolling_origin_folds(frame, folds=folds):
        model = RidgeReference(**base.get_params()).fit(frame.iloc[fold.train])
        test = frame.iloc[fold.test]
        parts.append(test[KEYS].assign(**{f"{REFERENCE}_p50": model.predict(test)}))
    return pd.concat(parts, ignore_index=True)


def expected_on_test_rows(predictions: pd.DataFrame, truth_revenue: pd.DataFrame) -> pd.DataFrame:
    """Test rows joined with the world's expected revenue (``_truth/revenue.csv``): the
    forecast that knew each partner-quarter's true mean, the floor no model beats by much.

    Columns: ``partner_id, quarter_start, actual, expected_revenue`` (inner join)."""
    tested = predictions[["partner_id", "quarter_start", "actual"]].astype(
        {"partner_id": str, "quarter_start": "datetime64[ns]"}
    )
    truth = truth_revenue[["partner_id", "quarter_start", "expected_revenue"]].astype(
        {"partner_id": str, "quarter_start": "datetime64[ns]"}
    )
    return tested.merge(truth, on=["partner_id", "quarter_start"], how="inner")


def floor_wape(
    actual: np.ndarray | pd.Series,
    expected: np.ndarray | pd.Series,
    factors: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """WAPE of the true expected revenue, and of it scaled by the factor (0.2-1.2 unless
    given) that scores best on the same rows, with that factor.

    The mean is not what minimises absolute error: where revenue is lumpy (a deal is won
    or not) the median is well below it, so the plain expectation can be beaten by a
    model. The best scaled version, chosen in hindsight, is the floor to compare with.
    """
    factors = np.round(np.arange(0.2, 1.2001, 0.01), 2) if factors is None else factors
    scaled = [metrics.wape(actual, f * np.asarray(expected, float)) for f in factors]
    best = int(np.argmin(scaled))
    return metrics.wape(actual, expected), scaled[best], float(factors[best])
