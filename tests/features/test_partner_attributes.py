"""Partner attributes: fixed categorical levels, extra columns, tenure, unseen levels."""

from __future__ import annotations

import pandas as pd

from features.frames import build_features


def test_attributes_and_tenure(hand_spec, hand_features):
    assert dict(hand_spec.categorical_levels)["tier"] == ("gold", "silver")
    assert hand_spec.numeric_partner_columns == ("employees",)
    assert set(hand_spec.categorical_columns) >= {"tier", "partner_type", "extra_vertical_focus"}
    a = hand_features.loc["A"]
    assert a["tier"] == "gold"
    assert a["extra_vertical_focus"] == "health"
    assert a["extra_employees"] == 50
    assert a["tenure_days"] == 506  # 2023-02-10 .. 2024-06-30
    assert a["tenure_quarters"] == 5
    assert isinstance(hand_features["tier"].dtype, pd.CategoricalDtype)
    assert list(hand_features["tier"].cat.categories) == ["gold", "silver"]


def test_unseen_levels_become_missing(hand, hand_spec):
    f = build_features(hand, as_of="2024-09-30", spec=hand_spec).set_index("partner_id")
    assert pd.isna(f.loc["C", "tier"])  # "diamond" joined after the spec was fitted
    assert pd.isna(f.loc["C", "extra_vertical_focus"])
    assert f.loc["C", "extra_employees"] == 5
    assert list(f["tier"].cat.categories) == ["gold", "silver"]
