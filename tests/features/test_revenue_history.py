"""Revenue panel and revenue history: hand-computed numbers, a fiscal calendar, an oracle."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.families import build_revenue_panel
from features.frames import build_features, fit_feature_spec
from tests.features.builders import random_dataset

# A's quarters to 2024-06-30: Q1'23 100, Q2'23 200, Q3'23 0, Q4'23 300-50, Q1'24 400, Q2'24 500
A_LAGS = [500, 400, 250, 0, 200, 100, np.nan, np.nan]
B_LAGS = [120, 0, 80] + [np.nan] * 5


def test_panel_has_zero_quarters_from_join_and_partial_last_quarter(hand):
    panel = build_revenue_panel(hand, as_of="2024-05-15", calendar=QuarterCalendar())
    a = panel.loc[panel["partner_id"] == "A"]
    assert a["quarter_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-01-01",
        "2023-04-01",
        "2023-07-01",
        "2023-10-01",
        "2024-01-01",
        "2024-04-01",
    ]
    assert a["revenue"].tolist() == [100, 200, 0, 250, 400, 0]  # 500 is booked on 06-30
    b = panel.loc[panel["partner_id"] == "B"]
    assert b["revenue"].tolist() == [80, 0, 120]
    assert "C" not in set(panel["partner_id"])  # joins after the as-of date
    assert list(panel.columns) == ["partner_id", "quarter_start", "revenue"]


def test_panel_fiscal_year_starting_in_february(hand):
    """Quarters Feb-Apr, May-Jul, ...: as of 2024-07-15 the last quarter holds 06-30 and 07-01."""
    panel = build_revenue_panel(hand, as_of="2024-07-15", calendar=QuarterCalendar(2))
    a = panel.loc[panel["partner_id"] == "A"]
    assert a["quarter_start"].dt.strftime("%Y-%m-%d").tolist() == [
        "2023-02-01",
        "2023-05-01",
        "2023-08-01",
        "2023-11-01",
        "2024-02-01",
        "2024-05-01",
    ]
    assert a["revenue"].tolist() == [100, 200, 0, 250, 400, 1499]


def test_fiscal_features(hand):
    spec = fit_feature_spec(hand, as_of="2024-03-31", calendar=QuarterCalendar(2))
    f = build_features(hand, as_of="2024-07-15", spec=spec).set_index("partner_id")
    assert f.loc["A", "revenue_lag_1"] == 1499
    assert f.loc["A", "revenue_lag_2"] == 400
    assert f.loc["A", "asof_fiscal_quarter"] == 2  # May-Jul is the second fiscal quarter
    assert f.loc["A", "quarter_elapsed_share"] == pytest.approx(76 / 92)  # May 1..Jul 15


def test_lags(hand_features):
    for k in range(8):
        for pid, lags in (("A", A_LAGS), ("B", B_LAGS)):
            got = hand_features.loc[pid, f"revenue_lag_{k + 1}"]
            assert (np.isnan(got) and np.isnan(lags[k])) or got == lags[k], (pid, k)


def test_rolling_growth_and_recency(hand_features):
    a = hand_features.loc["A"]
    assert a["revenue_mean_2q"] == 450
    assert a["revenue_std_2q"] == 50
    assert a["revenue_trend_2q"] == 100
    assert a["revenue_mean_4q"] == pytest.approx(287.5)
    assert a["revenue_std_4q"] == pytest.approx(math.sqrt(141875 / 4))
    assert a["revenue_trend_4q"] == pytest.approx(165)  # sum(dx*dy) 825 / sum(dx^2) 5
    assert a["revenue_mean_8q"] == pytest.approx(1450 / 6)  # six quarters since joining
    assert a["revenue_yoy_growth_1q"] == pytest.approx(1.5)  # (500 - 200) / 200
    assert np.isnan(a["revenue_yoy_growth_4q"])  # lags 7-8 predate joining
    # log-ratio growth on asinh(x / 1000): lags 500, 400, 250, 0
    assert a["revenue_log_growth_1q"] == pytest.approx(np.arcsinh(0.5) - np.arcsinh(0.4), rel=1e-6)
    assert a["revenue_log_growth_4q"] == pytest.approx(np.arcsinh(0.5) / 3, rel=1e-6)
    assert np.isnan(hand_features.loc["B", "revenue_log_growth_4q"])  # B has three quarters
    assert a["revenue_zero_share_4q"] == 0.25
    assert a["revenue_zero_share_8q"] == pytest.approx(1 / 6)
    assert a["revenue_cum"] == 1450
    assert a["quarters_since_first_booking"] == 5
    assert a["quarters_since_last_booking"] == 0
    assert a["credit_note_share_4q"] == pytest.approx(50 / 1200)
    b = hand_features.loc["B"]
    assert b["revenue_mean_4q"] == pytest.approx(200 / 3)
    assert b["revenue_zero_share_4q"] == pytest.approx(1 / 3)
    assert b["quarters_since_first_booking"] == 2
    assert b["credit_note_share_4q"] == 0
    assert "C" not in hand_features.index


def test_inside_a_quarter_lag_1_is_partial(hand, hand_spec):
    f = build_features(hand, as_of="2024-05-15", spec=hand_spec).set_index("partner_id")
    assert f.loc["A", "revenue_lag_1"] == 0
    assert f.loc["A", "revenue_lag_2"] == 400
    assert f.loc["A", "quarters_since_last_booking"] == 1
    assert f.loc["B", "revenue_lag_1"] == 120
    assert f.loc["A", "quarter_elapsed_share"] == pytest.approx(45 / 91)


def _naive_lags(ds, as_of: pd.Timestamp, cal: QuarterCalendar) -> dict[str, list[float]]:
    """Reference: one partner at a time, straight from the rows."""
    out = {}
    q0 = cal.quarter_index(as_of)
    for pid, joined in zip(ds.partners["partner_id"], ds.partners["joined_on"], strict=True):
        if joined > as_of:
            continue
        rows = ds.bookings.loc[
            (ds.bookings["partner_id"] == pid) & (ds.bookings["booked_on"] <= as_of)
        ]
        lags = []
        for k in range(8):
            q = q0 - k
            if q < cal.quarter_index(joined):
                lags.append(np.nan)
                continue
            start = cal.index_to_start(q)
            in_q = rows.loc[
                (rows["booked_on"] >= start) & (rows["booked_on"] < cal.index_to_start(q + 1))
            ]
            lags.append(float(in_q["amount"].sum()))
        out[pid] = lags
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("fy", [1, 2])
def test_oracle_lags_equal_naive_loop(seed, fy):
    ds = random_dataset(seed)
    cal = QuarterCalendar(fy)
    spec = fit_feature_spec(ds, as_of="2023-12-31", calendar=cal)
    for as_of in (pd.Timestamp("2023-06-30"), pd.Timestamp("2023-08-17")):
        got = build_features(ds, as_of=as_of, spec=spec).set_index("partner_id")
        expected = _naive_lags(ds, as_of, cal)
        assert sorted(expected) == list(got.index)
        for pid, lags in expected.items():
            row = got.loc[pid, [f"revenue_lag_{k + 1}" for k in range(8)]].to_numpy(float)
            np.testing.assert_allclose(row, np.array(lags), rtol=1e-5, atol=1e-2)
