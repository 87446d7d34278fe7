"""Target-quarter features worked by hand: the pipeline due in each horizon's quarter and
log-ratios to the sales-ops plan."""

from __future__ import annotations

import numpy as np
import pytest

from features.families.target_quarter import (
    TARGET_QUARTER_FEATURES,
    long_growth,
    target_quarter_signals,
)


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
        **{f"revenue_lag_{k}": np.array([np.nan]) for k in range(3, 9)},
        "revenue_cum": np.array([3000.0]),
        "quarters_since_first_booking": np.array([0.0]),  # one quarter of history
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


def test_long_growth_compares_the_last_eight_quarters_with_the_older_history():
    # partner 0: 10 quarters, the 2 older ones at 100 each and the last 8 at 200 each: the
    #   centres (lags 9.5 and 4.5) are 5 quarters apart, so growth is log(2) / 5 a quarter;
    # partner 1: 9 quarters, too few older ones: 0; partner 2: 12 quarters, older mean 800
    #   against a recent 200: log(1/4) / 6 = -0.231; partner 3: clipped at +0.3
    recent = np.array([200.0, 200.0, 200.0, 200.0])
    frame = {
        **{f"revenue_lag_{k}": recent for k in range(1, 9)},
        "revenue_cum": np.array([1800.0, 1700.0, 1600.0 + 4 * 800.0, 1600.0 + 2 * 1.0]),
        "quarters_since_first_booking": np.array([9.0, 8.0, 11.0, 9.0]),
    }
    growth = long_growth(frame)
    np.testing.assert_allclose(growth, [np.log(2) / 5, 0.0, np.log(0.25) / 6, 0.3])


def test_trend_run_rate_plan_grows_last_quarters_run_rate_to_the_target_quarter():
    lags = {f"revenue_lag_{k}": np.array([2000.0]) for k in range(2, 9)}
    partner = {
        "open_amount_close_next_q": np.array([0.0]),
        "open_amount_overdue": np.array([0.0]),
        "open_amount_close_q2": np.array([0.0]),
        "open_amount_close_q3": np.array([0.0]),
        "open_amount_close_q4": np.array([0.0]),
        "win_rate_shrunk_8q": np.array([0.5]),
        "revenue_lag_1": np.array([2500.0]),
        **lags,
        "revenue_mean_4q": np.array([2100.0]),
        "won_amount_1q": np.array([500.0]),  # last quarter's run-rate: 2000
        "revenue_cum": np.array([16500.0 + 2 * 1000.0]),  # two older quarters of 1000
        "quarters_since_first_booking": np.array([9.0]),
    }
    g = np.log(16500.0 / 8 / 1000.0) / 5 * 0.5  # half the long-run growth
    out = target_quarter_signals(
        partner,
        np.array([1, 4]),
        plan=np.array([1800.0, 1900.0]),
        run_rate=np.array([1700.0, 1700.0]),
        last_year=np.array([0.0, 0.0]),
        deals=np.array([100.0, 200.0]),
        rows=np.zeros(2, dtype=int),
    )
    np.testing.assert_allclose(
        out["trend_run_rate_plan"], [2000 * np.exp(g) + 100, 2000 * np.exp(4 * g) + 200]
    )


def test_a_ramping_partners_later_quarters_plan_at_least_its_next_quarters_deals():
    # four partners, each at horizons 1 and 3: open pipeline due next quarter 4000 and
    # overdue 1000 at a win rate of 0.4 (expected 2000 next quarter), trailing won deals 100
    # a quarter. Tenure 0 and 1 quarter: still ramping, so horizon 3 plans the next quarter's
    # 2000; tenure 2 and unknown tenure: the trailing 100. Horizon 1 is the pipeline's anyway.
    n = 4
    partner = {
        "open_amount_close_next_q": np.full(n, 4000.0),
        "open_amount_overdue": np.full(n, 1000.0),
        "open_amount_close_q2": np.zeros(n),
        "open_amount_close_q3": np.zeros(n),
        "open_amount_close_q4": np.zeros(n),
        "win_rate_shrunk_8q": np.full(n, 0.4),
        "won_amount_1q": np.zeros(n),
        "revenue_mean_4q": np.full(n, 500.0),
        "revenue_cum": np.full(n, 500.0),
        "quarters_since_first_booking": np.zeros(n),
        **{f"revenue_lag_{k}": np.full(n, 500.0 if k == 1 else 0.0) for k in range(1, 9)},
        "tenure_quarters": np.array([0.0, 1.0, 2.0, np.nan]),
    }
    rows = np.repeat(np.arange(n), 2)
    h = np.tile([1, 3], n)
    deals = np.where(h == 1, 2000.0, 100.0)

    def trend_plan(frame: dict) -> np.ndarray:
        out = target_quarter_signals(
            frame,
            h,
            plan=500.0 + deals,
            run_rate=np.full(2 * n, 500.0),
            last_year=np.zeros(2 * n),
            deals=deals,
            rows=rows,
        )
        return out["trend_run_rate_plan"]

    # last quarter's run-rate 500, no long-run growth (one quarter of history)
    np.testing.assert_allclose(trend_plan(partner), [2500, 2500, 2500, 2500, 2500, 600, 2500, 600])
    # no sign-up dates (an older feature frame): nobody counts as ramping
    without = {k: v for k, v in partner.items() if k != "tenure_quarters"}
    np.testing.assert_allclose(trend_plan(without), 500.0 + deals)
