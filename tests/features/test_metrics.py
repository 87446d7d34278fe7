"""Forecast metrics against numbers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from features.metrics import bias, coverage, mase, pinball_loss, seasonal_naive_scale, wape


def test_wape_and_bias_by_hand() -> None:
    actual, predicted = [100, 0, 50], [90, 10, 80]
    # |errors| = 10 + 10 + 30 = 50 over 150 of actuals
    assert wape(actual, predicted) == pytest.approx(50 / 150)
    # signed: -10 + 10 + 30 = 30 over 150
    assert bias(actual, predicted) == pytest.approx(30 / 150)


def test_wape_uses_absolute_actuals_so_credit_notes_do_not_cancel() -> None:
    assert wape([100, -100], [100, -50]) == pytest.approx(50 / 200)


def test_wape_of_all_zero_actuals_is_nan() -> None:
    assert math.isnan(wape([0, 0], [1, 2]))


def test_mase_and_seasonal_naive_scale() -> None:
    history = np.array(
        [
            [10, 20, 30, 40, 12, 22, 32, 44],  # |diffs| at lag 4: 2, 2, 2, 4
            [np.nan, np.nan, 5, 5, 5, 5, 9, 5],  # 0, 0, (4, 0 with nan partner skipped)
        ]
    )
    # row 2 lag-4 diffs: (5-nan)=nan, (5-nan)=nan, 9-5=4, 5-5=0
    scale = seasonal_naive_scale(history, season=4)
    assert scale == pytest.approx((2 + 2 + 2 + 4 + 4 + 0) / 6)
    assert mase([10, 20], [13, 17], scale) == pytest.approx(3 / scale)
    with pytest.raises(ValueError, match="positive"):
        mase([1], [1], 0.0)
    with pytest.raises(ValueError, match="more than 4 quarters"):
        seasonal_naive_scale([[1, 2, 3, 4]])


def test_pinball_loss_by_hand() -> None:
    actual = [10.0, 20.0]
    preds = {0.1: [5.0, 25.0], 0.9: [15.0, 15.0]}
    # q=0.1: under by 5 -> 0.1*5=0.5 ; over by 5 -> 0.9*5=4.5 ; mean 2.5
    # q=0.9: over by 5 -> 0.1*5=0.5 ; under by 5 -> 0.9*5=4.5 ; mean 2.5
    assert pinball_loss(actual, preds) == pytest.approx(2.5)


def test_coverage_counts_the_bounds_as_inside() -> None:
    assert coverage([1, 5, 10, 11], [1, 0, 0, 0], [2, 4, 10, 10]) == pytest.approx(0.5)


def test_shape_mismatch_and_empty_input_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        wape([1, 2], [1])
    with pytest.raises(ValueError, match="at least one row"):
        coverage([], [], [])
