"""Baselines against values read off a hand-built panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from training.forecast import baseline_forecasts

CAL = QuarterCalendar()
QUARTERS = pd.date_range("2024-01-01", periods=8, freq="QS")


def _panel() -> pd.DataFrame:
    a = pd.DataFrame(
        {
            "partner_id": "A",
            "quarter_start": QUARTERS,
            "revenue": [10.0, 20, 30, 40, 11, 21, 31, 41],
        }
    )
    # B joined in 2025-Q1: no rows before
    b = pd.DataFrame({"partner_id": "B", "quarter_start": QUARTERS[4:], "revenue": [0.0, 5, 0, 7]})
    return pd.concat([a, b], ignore_index=True)


def test_baselines_by_hand() -> None:
    as_of = pd.Timestamp("2025-06-30")  # cutoff in 2025-Q2
    rows = pd.DataFrame(
        {
            "partner_id": ["A", "A", "A", "B", "B", "B"],
            "as_of": as_of,
            "horizon": [1, 4, 5, 1, 2, 3],
        }
    )
    got = baseline_forecasts(_panel(), rows, CAL)
    # A, h=1 -> 2025-Q3; a year earlier 2024-Q3 = 30; last value 2025-Q2 = 21;
    # mean of 2024-Q3..2025-Q2 = (30 + 40 + 11 + 21) / 4
    assert got.loc[0].tolist() == [30.0, 21.0, pytest.approx(102 / 4)]
    # h=4 -> 2026-Q2; a year earlier is 2025-Q2 = 21
    assert got.loc[1, "seasonal_naive"] == 21.0
    # h=5 -> 2026-Q3; two years earlier = 2024-Q3 = 30
    assert got.loc[2, "seasonal_naive"] == 30.0
    # B existed only since 2025-Q1: seasonal naive falls back to 0, mean over 2 quarters
    assert got.loc[3].tolist() == [0.0, 5.0, 2.5]
    # B, h=3 -> 2026-Q1; a year earlier 2025-Q1 = 0
    assert got.loc[5, "seasonal_naive"] == 0.0


def test_partner_without_history_gets_zero() -> None:
    rows = pd.DataFrame({"partner_id": ["C"], "as_of": pd.Timestamp("2025-06-30"), "horizon": [1]})
    assert baseline_forecasts(_panel(), rows, CAL).loc[0].tolist() == [0.0, 0.0, 0.0]


def test_baseline_intervals_follow_the_size_of_the_point_forecast() -> None:
    """Small points with lumpy errors, large points with tight ones: each gets its own spread,
    and each size holds about 80% of its actuals (one pooled spread would not)."""
    from training.forecast.backtest import _residual_quantiles, _with_intervals

    rng = np.random.default_rng(0)
    n = 4000
    point = np.where(np.arange(n) % 2 == 0, 2_000.0, 2_000_000.0)
    noise = np.where(point < 1e5, 0.8, 0.05)
    actual = point * np.exp(rng.normal(0.0, noise))
    horizon = np.ones(n, dtype=int)
    spread = _residual_quantiles(actual, point, horizon, 1000.0)
    out = _with_intervals(point, horizon, spread, 1000.0)
    inside = (actual >= out["p10"].to_numpy()) & (actual <= out["p90"].to_numpy())
    for size in (2_000.0, 2_000_000.0):
        assert abs(inside[point == size].mean() - 0.8) < 0.03
    big = point == 2_000_000.0
    width = (out["p90"] - out["p10"]).to_numpy()[big].mean() / 2_000_000.0
    assert width < 0.2  # about 2 x 1.28 x 5%, not the small partners' spread
