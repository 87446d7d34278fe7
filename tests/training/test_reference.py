"""The ridge reference: a hand-worked weighted fit, quarter-of-year coefficients, the folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.forecast.reference import (
    REFERENCE,
    REFERENCE_FEATURES,
    RidgeReference,
    backtest_reference,
    expected_on_test_rows,
    floor_wape,
)


def _frame(lag1, target, size, horizon=1, quarter=1) -> pd.DataFrame:
    n = len(lag1)
    frame = pd.DataFrame({c: np.zeros(n) for c in REFERENCE_FEATURES})
    frame["revenue_lag_1"] = np.asarray(lag1, float)
    frame["revenue_mean_4q"] = np.asarray(size, float)
    frame["target"] = np.asarray(target, float)
    frame["horizon"] = horizon
    frame["target_fiscal_quarter"] = quarter
    return frame


def test_weighted_fit_matches_the_hand_worked_line() -> None:
    """x = 1, 2, 3 (thousands), y = 2, 4, 7, sizes 1, 1, 2 -> weights 1, 1, 0.5.

    Weighted means: x 4.5 / 2.5 = 1.8, y 9.5 / 2.5 = 3.8. Sxy = 1(-0.8)(-1.8) + 1(0.2)(0.2)
    + 0.5(1.2)(3.2) = 3.4; Sxx = 0.64 + 0.04 + 0.72 = 1.4; slope 3.4 / 1.4 = 2.428571,
    intercept 3.8 - 2.428571 x 1.8 = -0.571429; at x = 4: 9.142857 (thousands).
    Only revenue_mean_4q (the size) is used besides lag 1, and it is a feature too, so the
    fit is restricted to lag 1 through ``features``.
    """
    frame = _frame([1000, 2000, 3000], [2000, 4000, 7000], [1000, 1000, 2000])
    model = RidgeReference(features=("revenue_lag_1",), alpha=0.0, by_quarter=False)
    model.fit(frame)
    ridge, mean, sd = model.models_[1]
    assert ridge.coef_[0] / sd[0] == pytest.approx(2.428571, rel=1e-5)
    new = _frame([4000, 0], [0, 0], [1000, 1000])
    assert model.predict(new) == pytest.approx([9142.857, 0.0], rel=1e-5)  # -571 clips to 0


def test_quarter_of_year_coefficients_follow_a_seasonal_multiplier() -> None:
    rng = np.random.default_rng(0)
    parts = []
    for q, factor in [(1, 0.6), (2, 1.0), (3, 0.9), (4, 1.5)]:
        lag = rng.uniform(1_000, 50_000, 200)
        parts.append(_frame(lag, factor * lag, lag, quarter=q))
    frame = pd.concat(parts, ignore_index=True)
    seasonal = RidgeReference(features=("revenue_lag_1",), alpha=1e-6).fit(frame)
    flat = RidgeReference(features=("revenue_lag_1",), alpha=1e-6, by_quarter=False).fit(frame)
    probe = _frame([10_000] * 4, [0] * 4, [10_000] * 4)
    probe["target_fiscal_quarter"] = [1, 2, 3, 4]
    assert seasonal.predict(probe) == pytest.approx([6_000, 10_000, 9_000, 15_000], rel=1e-3)
    assert np.ptp(flat.predict(probe)) == 0.0


def test_unseen_horizon_uses_the_nearest_fitted_one() -> None:
    frame = _frame([1000, 2000, 3000], [2000, 4000, 6000], [1, 1, 1], horizon=1)
    model = RidgeReference(features=("revenue_lag_1",), alpha=0.0, by_quarter=False).fit(frame)
    assert model.predict(_frame([5000], [0], [1], horizon=3)) == pytest.approx([10_000])


def test_backtest_reference_tests_each_cutoff_on_rows_known_before_it() -> None:
    rows = []
    for c, cutoff in enumerate(pd.date_range("2021-03-31", periods=6, freq="QE")):
        for p in range(5):
            rows.append(
                {
                    "partner_id": f"P{p}",
                    "as_of": cutoff,
                    "horizon": 1,
                    "quarter_start": cutoff + pd.Timedelta(days=1),
                    "revenue_lag_1": 1000.0 * (p + 1) + c,
                    "revenue_mean_4q": 1000.0 * (p + 1),
                    "target": 2000.0 * (p + 1) + 2 * c,
                    "target_fiscal_quarter": cutoff.quarter % 4 + 1,
                }
            )
    frame = pd.DataFrame(rows)
    for col in set(REFERENCE_FEATURES) - set(frame.columns):
        frame[col] = 0.0
    out = backtest_reference(
        frame,
        folds=2,
        horizon=4,
        estimator=RidgeReference(features=("revenue_lag_1",), alpha=0.0, by_quarter=False),
    )
    assert len(out) == 10 and out["as_of"].nunique() == 2
    assert out[f"{REFERENCE}_p50"].to_numpy() == pytest.approx(
        2 * frame.loc[frame["as_of"].isin(out["as_of"]), "revenue_lag_1"].to_numpy(), rel=1e-6
    )


def test_expected_on_test_rows_joins_the_truth() -> None:
    preds = pd.DataFrame(
        {"partner_id": ["P1", "P2"], "quarter_start": pd.to_datetime(["2022-01-01"] * 2)}
    ).assign(actual=[10.0, 20.0])
    truth = pd.DataFrame(
        {
            "partner_id": ["P1", "P3"],
            "quarter_start": pd.to_datetime(["2022-01-01"] * 2),
            "expected_revenue": [12.0, 5.0],
        }
    )
    joined = expected_on_test_rows(preds, truth)
    assert joined[["partner_id", "actual", "expected_revenue"]].values.tolist() == [
        ["P1", 10.0, 12.0]
    ]


def test_floor_wape_finds_the_shrinkage_that_lumpy_revenue_rewards() -> None:
    """A deal of 100 won one time in three: the mean 33.3 scores WAPE (2 x 33.3 + 66.7) / 100
    = 1.333; scaling by 0.2 (6.67) scores (2 x 6.67 + 93.3) / 100 = 1.067, the best of the
    grid (WAPE falls as the forecast falls towards the median, 0)."""
    actual, expected = np.array([0.0, 0.0, 100.0]), np.full(3, 100 / 3)
    plain, scaled, factor = floor_wape(actual, expected)
    assert plain == pytest.approx(4 / 3)
    assert factor == 0.2 and scaled == pytest.approx(1.0667, abs=1e-4)
