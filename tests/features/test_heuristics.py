"""The sales-ops heuristic by hand, and as a horizon feature of the forecast frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.families import sales_ops_estimate


def test_sales_ops_estimate_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "revenue_mean_4q": [1000.0, 100.0, np.nan],
            "won_amount_4q": [2000.0, 800.0, np.nan],
            "open_amount_close_next_q": [3000.0, 0.0, 50.0],
            "open_amount_overdue": [1000.0, 0.0, 0.0],
            "win_rate_shrunk_8q": [0.25, 0.5, 1.7],
        }
    )
    got = sales_ops_estimate(frame, np.array([1, 2, 1]))
    # run-rate: 1000 - 2000/4 = 500; 100 - 200 -> 0 (floored); missing -> 0
    np.testing.assert_allclose(got["run_rate_non_deal"], [500, 0, 0])
    # h=1: due pipeline x win rate (clipped to 1); h=2: won per quarter
    np.testing.assert_allclose(got["expected_deal_revenue"], [4000 * 0.25, 200, 50])
    np.testing.assert_allclose(got["sales_ops_estimate"], [1500, 200, 50])


def test_forecast_frame_carries_the_estimate_per_horizon(hand, hand_spec) -> None:
    from features.frames import build_scoring_frame

    rows = build_scoring_frame(hand, as_of=hand_spec.fitted_as_of, spec=hand_spec, horizon=2)
    expected = sales_ops_estimate(rows, rows["horizon"].to_numpy())["sales_ops_estimate"]
    np.testing.assert_allclose(rows["sales_ops_estimate"], expected, rtol=1e-6)
    assert rows["sales_ops_estimate"].notna().all()
    assert "sales_ops_estimate" in hand_spec.feature_columns
    assert rows["sales_ops_estimate"].sum() == pytest.approx(
        rows["run_rate_non_deal"].sum() + rows["expected_deal_revenue"].sum(), rel=1e-6
    )
