"""Money-aware weights worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from training.forecast.weights import money_weights


def test_weights_follow_size_to_the_power_with_a_floor_and_mean_one():
    # sizes floored at 1000: 1000, 1000, 4000, 16000; median 2500; sqrt ratios
    # 0.632, 0.632, 1.265, 2.530 with mean 1.265 -> 0.5, 0.5, 1, 2
    w = money_weights([0.0, -500.0, 4000.0, 16000.0], power=0.5, floor=1000.0)
    np.testing.assert_allclose(w, [0.5, 0.5, 1.0, 2.0])


def test_power_one_is_money_and_the_cap_bounds_the_giants():
    # ratios to the median 2000: 0.5, 1, 100 -> capped at 4: 0.5, 1, 4 -> mean 11/6
    w = money_weights([1000.0, 2000.0, 200000.0], power=1.0, floor=1.0, cap=4.0)
    np.testing.assert_allclose(w, np.array([0.5, 1.0, 4.0]) / (5.5 / 3))
    assert money_weights([np.nan, 5.0], power=0.0, floor=1.0).tolist() == [1.0, 1.0]


def test_size_weight_needs_a_column():
    import pandas as pd

    from training.forecast import QuantileForecaster

    X = pd.DataFrame({"x": np.arange(12.0)})
    with pytest.raises(ValueError, match="weight_column"):
        QuantileForecaster(size_weight=1.0, n_estimators=2).fit(X, np.arange(12.0), time=X["x"])
