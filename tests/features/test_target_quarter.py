"""Target-quarter features worked by hand: the pipeline due in each horizon's quarter and
log-ratios to the sales-ops plan."""

from __future__ import annotations

import numpy as np
import pytest

from features.families.target_quarter import TARGET_QUARTER_FEATURES, target_quarter_signals


def test_each_horizon_sees_the_pipeline_due_in_its_own_quarter():
    partner = {
        "open_amount_close_next_q": np.array([100.0]),
        "open_amount_overdue": np.array([50.0]),  # overdue counts for the next quarter
        "open_amount_close_q2": np.array([200.0]),
        "open_amount_close_q3": np.array([0.0]),
        "open_amount_close_q4": np.array([400.0]),
        "win_rate_shrunk_8q": np.array([0.5]),
        "revenue_lag_1": np.array([3000.0]),
        "revenue_lag_2": np.array([np.nan]),  # the partner did not exist yet
        "revenue_mean_4q": np.array([2000.0]),
        "won_amount_1q": np.array([500.0]),
    }
    plan = np.array([2000.0, 1500.0, 1500.0, 1500.0])
    out = target_quarter_signals(
        partner,
        np.array([1, 2, 3, 4]),
        plan=plan,
        run_rate=np.full(4, 1000.0),
        last_year=np.array([2000.0, 0.0, 1500.0, 4000.0]),
        rows=np.zeros(4, dtype=int),
    )
    assert set(out) == set(TARGET_QUARTER_FEATURES)
    np.testing.assert_array_equal(out["open_amount_close_target_q"], [150, 200, 0, 400])
    np.testing.assert_array_equal(out["expected_deal_revenue_target_q"], [75, 100, 0, 200])
    # asinh(x / 1000) - asinh(plan / 1000)
    assert out["log_ratio_pipeline_plan"][3] == pytest.approx(np.arcsinh(1.2) - np.arcsinh(1.5))
    assert out["log_ratio_last_year"][0] == pytest.approx(0.0)
    assert out["log_ratio_last_year"][1] == pytest.approx(-np.arcsinh(1.5))
    assert out["log_ratio_lag_1"][0] == pytest.approx(np.arcsinh(3) - np.arcsinh(2))
    assert np.isnan(out["log_ratio_lag_2"]).all()
    assert out["log_ratio_mean_4q"][0] == pytest.approx(0.0)
    # last quarter's run-rate: 3000 booked less 500 won in deals
    np.testing.assert_array_equal(out["run_rate_last_q"], [2500] * 4)
    assert out["log_ratio_run_rate_last_q"][1] == pytest.approx(np.arcsinh(2.5) - np.arcsinh(1.5))
