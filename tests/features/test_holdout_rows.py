"""Randomized `none` rows (issue 17): the control arm of a holdout test is no incentive for
the features and the forecaster, and an observed untreated randomized decision for the
recommender's training frame."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pandas.testing as pdt

from features.calendar import QuarterCalendar
from features.data import incentive_grants, is_holdout
from features.data.dataset import Dataset
from features.frames import (
    build_features,
    build_forecast_frame,
    build_recommender_frame,
    fit_feature_spec,
)

HOLDOUTS = [
    # A in 2023-Q3 (no grant there), B in 2024-Q1 (no grant), any case; one for A in
    # 2024-Q2 where A also got a rebate (the grant wins)
    ("A", "none", "2023-07-01", "2023-09-30"),
    ("B", "None", "2024-01-02", "2024-03-31"),
    ("A", "NONE", "2024-04-01", "2024-06-30"),
]


def _with_holdouts(ds: Dataset) -> Dataset:
    rows = pd.DataFrame(
        {
            "partner_id": pd.array([h[0] for h in HOLDOUTS], dtype="string"),
            "incentive": pd.array([h[1] for h in HOLDOUTS], dtype="string"),
            "starts_on": pd.to_datetime([h[2] for h in HOLDOUTS]),
            "ends_on": pd.to_datetime([h[3] for h in HOLDOUTS]),
            "cost": 0.0,
            "randomized": True,
        }
    )
    return replace(ds, incentives=pd.concat([ds.incentives, rows], ignore_index=True))


def test_is_holdout_and_grants(hand) -> None:
    ds = _with_holdouts(hand)
    assert is_holdout(ds.incentives).sum() == 3
    pdt.assert_frame_equal(incentive_grants(ds.incentives), hand.incentives)


def test_features_and_forecast_frame_ignore_holdout_rows(hand) -> None:
    cal = QuarterCalendar()
    ds = _with_holdouts(hand)
    spec = fit_feature_spec(hand, as_of="2024-06-30", calendar=cal)
    spec_h = fit_feature_spec(ds, as_of="2024-06-30", calendar=cal)
    assert spec_h.incentive_types == spec.incentive_types
    assert spec_h.partner_feature_columns == spec.partner_feature_columns
    assert not any("none" in c for c in spec_h.partner_feature_columns)
    pdt.assert_frame_equal(
        build_features(ds, as_of="2024-06-30", spec=spec),
        build_features(hand, as_of="2024-06-30", spec=spec),
    )
    pdt.assert_frame_equal(
        build_forecast_frame(ds, spec=spec, horizons=2),
        build_forecast_frame(hand, spec=spec, horizons=2),
    )


def test_recommender_frame_reads_holdouts_as_randomized_untreated(hand, hand_spec) -> None:
    before = build_recommender_frame(hand, spec=hand_spec)
    after = build_recommender_frame(_with_holdouts(hand), spec=hand_spec)
    key = ["partner_id", "quarter_start"]
    b, a = before.set_index(key), after.set_index(key)
    holdout = [("A", pd.Timestamp("2023-07-01")), ("B", pd.Timestamp("2024-01-01"))]
    for k in holdout:
        assert (a.loc[k, "incentive"], a.loc[k, "n_incentives"], a.loc[k, "cost"]) == ("none", 0, 0)
        assert bool(a.loc[k, "randomized"]) and not bool(b.loc[k, "randomized"])
    # a grant in the same quarter wins over the holdout row, and counts alone
    grant = ("A", pd.Timestamp("2024-04-01"))
    assert a.loc[grant, ["incentive", "n_incentives", "cost"]].tolist() == ["rebate", 2, 100]
    # nothing else moves
    rest = ~a.index.isin(holdout)
    pdt.assert_frame_equal(a.loc[rest], b.loc[rest])
