"""Pipeline signals as of 2024-06-30 on the hand-built dataset (prior strength m = 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.frames import build_features
from tests.features.builders import random_dataset


def test_open_pipeline_as_it_stood(hand_features):
    a = hand_features.loc["A"]
    # open at 06-30: o3 (closes 08-20, after t: still open), o4, o5; o6 is created after t
    assert a["open_count"] == 3
    assert a["open_amount"] == 1200
    assert a["open_amount_age_0_90d"] == 700  # o3, 76 days old
    assert a["open_amount_age_91_180d"] == 200  # o5, 121 days
    assert a["open_amount_age_181d_plus"] == 300  # o4, 242 days
    assert a["open_amount_close_next_q"] == 1000  # o3 (07-31) + o4 (overdue, 05-31)
    assert a["open_amount_close_later"] == 0
    assert a["open_amount_close_unknown"] == 200  # o5
    assert a["open_amount_overdue"] == 300
    assert a["open_registered_share"] == pytest.approx(0.75)  # (700 + 200) / 1200
    b = hand_features.loc["B"]
    assert b["open_amount_close_later"] == 900  # expected 2025-01-15, beyond next quarter
    # by expected close quarter: 2025-01-15 is three quarters after Q2 2024
    assert [b[f"open_amount_close_q{k}"] for k in (2, 3, 4)] == [0, 900, 0]
    assert [a[f"open_amount_close_q{k}"] for k in (2, 3, 4)] == [0, 0, 0]


def test_created_won_lost(hand_features):
    a = hand_features.loc["A"]
    assert a["opps_created_1q"] == 1  # o3
    assert a["created_amount_1q"] == 700
    assert a["opps_created_4q"] == 5  # o1..o5 (Q3'23..Q2'24)
    assert a["opps_won_1q"] == 0  # o3 is won only after t
    assert a["opps_lost_1q"] == 1  # o2
    assert a["opps_won_4q"] == 2  # o1, o7
    assert a["opps_lost_4q"] == 1
    assert a["won_amount_1q"] == 0
    assert a["won_amount_4q"] == 1600
    assert a["avg_won_deal_size_4q"] == 800
    assert a["median_sales_cycle_days_4q"] == pytest.approx((55 + 106) / 2)
    assert np.isnan(hand_features.loc["B", "median_sales_cycle_days_4q"])


def test_win_rate_shrinkage(hand_features):
    """All partners: 2 won of 4 closed -> 0.5. A's segment (reseller|gold): (2 + 2*.5)/(3 + 2)
    = 0.6; A: (2 + 2*.6)/(3 + 2) = 0.64. B's segment: (0 + 1)/(1 + 2) = 1/3; B: (2/3)/3."""
    a, b = hand_features.loc["A"], hand_features.loc["B"]
    assert a["win_rate_8q"] == pytest.approx(2 / 3)
    assert a["segment_win_rate_8q"] == pytest.approx(0.6)
    assert a["win_rate_shrunk_8q"] == pytest.approx(0.64)
    assert a["open_amount_weighted"] == pytest.approx(1200 * 0.64)
    assert b["win_rate_8q"] == 0
    assert b["segment_win_rate_8q"] == pytest.approx(1 / 3)
    assert b["win_rate_shrunk_8q"] == pytest.approx(2 / 9)
    assert b["open_amount_weighted"] == pytest.approx(900 * 2 / 9, rel=1e-6)


def test_closed_after_cutoff_is_open_whatever_its_outcome(hand, hand_spec):
    at = build_features(hand, as_of="2024-08-19", spec=hand_spec).set_index("partner_id")
    after = build_features(hand, as_of="2024-08-20", spec=hand_spec).set_index("partner_id")
    assert at.loc["A", "open_count"] == 4  # o3, o4, o5, o6
    assert after.loc["A", "open_count"] == 3  # o3 closed on 08-20
    assert after.loc["A", "opps_won_1q"] == 1


def _naive_open(ds, as_of: pd.Timestamp) -> dict[str, tuple[int, float]]:
    out: dict[str, tuple[int, float]] = {}
    for row in ds.opportunities.itertuples():
        is_open = row.created_on <= as_of and (pd.isna(row.closed_on) or row.closed_on > as_of)
        count, amount = out.get(row.partner_id, (0, 0.0))
        out[row.partner_id] = (count + is_open, amount + row.amount * is_open)
    return out


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_oracle_open_pipeline_equals_naive_loop(seed):
    from features.calendar import QuarterCalendar
    from features.frames import fit_feature_spec

    ds = random_dataset(seed)
    spec = fit_feature_spec(ds, as_of="2024-12-31", calendar=QuarterCalendar())
    for as_of in (pd.Timestamp("2023-09-30"), pd.Timestamp("2024-02-11")):
        got = build_features(ds, as_of=as_of, spec=spec).set_index("partner_id")
        expected = _naive_open(ds, as_of)
        for pid in got.index:
            count, amount = expected.get(pid, (0, 0.0))
            assert got.loc[pid, "open_count"] == count
            assert got.loc[pid, "open_amount"] == pytest.approx(amount, rel=1e-6)
