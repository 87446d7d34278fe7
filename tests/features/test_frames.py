"""Training, recommender and scoring frames; the FeatureSpec round trip and column contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data.dataset import Dataset, empty_frame
from features.frames import (
    build_features,
    build_forecast_frame,
    build_recommender_frame,
    build_scoring_frame,
    fit_feature_spec,
)
from features.spec import FeatureSpec

KEYS = ["partner_id", "as_of", "horizon", "quarter_start"]


def _day(frame: pd.DataFrame, col: str) -> list[str]:
    return frame[col].dt.strftime("%Y-%m-%d").tolist()


def test_forecast_frame_rows_and_targets(hand, hand_spec):
    # the data ends 2024-08-20 (o3's close), so Q2'24 is the last complete quarter
    ff = build_forecast_frame(hand, spec=hand_spec)
    assert list(ff.columns[:4]) == KEYS and ff.columns[-1] == "target"
    model_cols = [
        c for c in ff.columns if c not in ("partner_id", "as_of", "quarter_start", "target")
    ]
    assert sorted(model_cols) == sorted(hand_spec.feature_columns)
    assert ff.equals(ff.sort_values(["partner_id", "as_of", "horizon"], ignore_index=True))
    assert sorted(set(_day(ff, "as_of"))) == [
        "2023-03-31",
        "2023-06-30",
        "2023-09-30",
        "2023-12-31",
        "2024-03-31",
    ]
    assert (ff["quarter_start"] <= pd.Timestamp("2024-04-01")).all()  # targets fully observed
    a = ff.loc[ff["partner_id"] == "A"].set_index(["as_of", "horizon"])
    assert a.loc[(pd.Timestamp("2023-03-31"), 1), "target"] == 200
    assert a.loc[(pd.Timestamp("2023-06-30"), 2), "target"] == 250
    assert a.loc[(pd.Timestamp("2024-03-31"), 1), "target"] == 500
    assert a.loc[(pd.Timestamp("2023-06-30"), 4), "revenue_target_q_last_year"] == 200
    assert a.loc[(pd.Timestamp("2023-06-30"), 4), "target_fiscal_quarter"] == 2
    b = ff.loc[ff["partner_id"] == "B"]
    assert _day(b, "as_of")[0] == "2023-12-31"  # only from the first cutoff after joining
    assert "C" not in set(ff["partner_id"])


def test_forecast_rows_equal_single_as_of_features(hand, hand_spec):
    ff = build_forecast_frame(hand, spec=hand_spec, horizons=1)
    for cutoff in ("2023-09-30", "2024-03-31"):
        single = build_features(hand, as_of=cutoff, spec=hand_spec)
        rows = ff.loc[ff["as_of"] == pd.Timestamp(cutoff)].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows[single.columns], single)


def test_explicit_cutoffs_and_data_end(hand, hand_spec):
    ff = build_forecast_frame(
        hand, spec=hand_spec, cutoffs=["2024-03-31"], horizons=2, data_end="2024-09-30"
    )
    a = ff.loc[ff["partner_id"] == "A"].set_index("horizon")
    assert a["target"].tolist() == [500, 999]
    assert _day(a, "quarter_start") == ["2024-04-01", "2024-07-01"]


def test_scoring_frame_matches_forecast_columns(hand, hand_spec):
    ff = build_forecast_frame(hand, spec=hand_spec)
    sf = build_scoring_frame(hand, as_of="2024-05-15", spec=hand_spec, horizon=3)
    assert list(sf.columns) == list(ff.columns[:-1])
    assert sf["partner_id"].tolist() == ["A"] * 3 + ["B"] * 3
    assert sf["horizon"].tolist() == [1, 2, 3] * 2
    assert _day(sf, "quarter_start")[:3] == ["2024-07-01", "2024-10-01", "2025-01-01"]
    for c in sf.columns:
        assert sf[c].dtype == ff[c].dtype, c


def test_recommender_frame(hand, hand_spec):
    rf = build_recommender_frame(hand, spec=hand_spec)
    assert list(rf.columns[:3]) == ["partner_id", "as_of", "quarter_start"]
    assert list(rf.columns[-5:]) == ["incentive", "n_incentives", "cost", "randomized", "revenue"]
    r = rf.set_index(["partner_id", "quarter_start"])
    row = r.loc[("A", pd.Timestamp("2024-04-01"))]
    assert (row["incentive"], row["n_incentives"], row["cost"], row["randomized"]) == (
        "rebate",
        2,
        100,
        True,
    )
    assert row["revenue"] == 500 and row["as_of"] == pd.Timestamp("2024-03-31")
    row = r.loc[("B", pd.Timestamp("2024-04-01"))]
    assert (row["incentive"], row["n_incentives"], row["cost"], row["revenue"]) == (
        "rebate",
        2,
        60,
        120,
    )
    assert r.loc[("A", pd.Timestamp("2023-10-01")), "incentive"] == "spiff"
    row = r.loc[("A", pd.Timestamp("2023-07-01"))]
    assert (row["incentive"], row["n_incentives"], row["cost"]) == ("none", 0, 0)
    # features are as of the end of the previous quarter
    assert r.loc[("A", pd.Timestamp("2024-04-01")), "revenue_lag_1"] == 400


def test_spec_json_round_trip_and_fixed_columns(hand, hand_spec):
    again = FeatureSpec.from_dict(json.loads(json.dumps(hand_spec.to_dict())))
    assert again == hand_spec
    f = build_features(hand, as_of="2024-06-30", spec=again)
    assert list(f.columns) == ["partner_id", "as_of", *hand_spec.partner_feature_columns]


def test_scoring_data_missing_tables_and_new_vocabulary(hand, hand_spec):
    activities = hand.activities.copy()
    activities["activity"] = pd.array(["never_seen"] * len(activities), dtype="string")
    bare = Dataset(
        partners=hand.partners,
        bookings=hand.bookings,
        activities=activities,
        incentives=empty_frame("incentives"),
    )
    f = build_features(bare, as_of="2024-06-30", spec=hand_spec)
    assert list(f.columns) == ["partner_id", "as_of", *hand_spec.partner_feature_columns]
    assert (f["activity_portal_login_qty_4q"] == 0).all()
    assert (f["incentive_rebate_count_4q"] == 0).all()
    assert (f["open_count"] == 0).all()
    sf = build_scoring_frame(bare, as_of="2024-06-30", spec=hand_spec)
    assert len(sf) == 8


def test_no_partner_yet_gives_empty_frames(hand, hand_spec):
    f = build_features(hand, as_of="2020-01-01", spec=hand_spec)
    assert len(f) == 0
    assert list(f.columns) == ["partner_id", "as_of", *hand_spec.partner_feature_columns]
    assert len(build_scoring_frame(hand, as_of="2020-01-01", spec=hand_spec)) == 0


def test_fit_uses_only_data_up_to_its_date(hand):
    spec = fit_feature_spec(hand, as_of="2023-06-30", calendar=QuarterCalendar())
    assert spec.activity_types == ("certification_earned",)
    assert spec.incentive_types == ("rebate",)
    assert dict(spec.categorical_levels)["tier"] == ("gold",)


def test_feature_values_are_float32_or_categorical(hand, hand_spec):
    ff = build_forecast_frame(hand, spec=hand_spec)
    for col in hand_spec.feature_columns:
        kind = ff[col].dtype
        assert kind == np.float32 or isinstance(kind, pd.CategoricalDtype) or col == "horizon"
    assert ff["target"].dtype == np.float64


@pytest.mark.parametrize("fy", [1, 2])
def test_cutoffs_are_quarter_ends_under_any_fiscal_calendar(hand, fy):
    cal = QuarterCalendar(fy)
    spec = fit_feature_spec(hand, as_of="2024-03-31", calendar=cal)
    ff = build_forecast_frame(hand, spec=spec)
    as_of = pd.Series(ff["as_of"].unique())
    assert (cal.quarter_end(as_of) == as_of).all()
    start = cal.quarter_start(ff["as_of"]) + pd.DateOffset(months=3 * 1)
    h1 = ff["horizon"] == 1
    assert (ff.loc[h1, "quarter_start"] == start[h1]).all()
