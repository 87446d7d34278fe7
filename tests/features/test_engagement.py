"""Engagement and incentive history as of 2024-06-30; the spec was fitted on data to 03-31."""

from __future__ import annotations

import numpy as np


def test_vocabularies_come_from_training_data(hand_spec):
    assert hand_spec.activity_types == ("certification_earned", "mdf_claim", "portal_login")
    assert hand_spec.activity_amount_types == ("mdf_claim",)
    assert hand_spec.incentive_types == ("rebate", "spiff")
    assert not any("mystery" in c or "new_thing" in c for c in hand_spec.feature_columns)


def test_activity_windows(hand_features):
    a = hand_features.loc["A"]
    assert (a["activity_portal_login_qty_1q"], a["activity_portal_login_qty_2q"]) == (3, 5)
    assert (a["activity_portal_login_qty_4q"], a["activity_portal_login_qty_cum"]) == (5, 5)
    assert a["activity_certification_earned_qty_4q"] == 1  # 2023-05-01 is before the window
    assert a["activity_certification_earned_qty_cum"] == 2  # cumulative certifications
    assert a["activity_mdf_claim_qty_4q"] == 2
    assert a["activity_mdf_claim_amount_1q"] == 250
    assert a["activity_mdf_claim_amount_4q"] == 350
    # totals over known types; mystery_type (unseen) is ignored there ...
    assert (a["activity_qty_1q"], a["activity_qty_2q"], a["activity_qty_4q"]) == (5, 7, 8)
    assert a["activity_amount_4q"] == 350
    assert a["activity_types_active_4q"] == 3
    # ... but it is still the latest activity (06-15), whatever its type
    assert a["days_since_last_activity"] == 15
    b = hand_features.loc["B"]
    assert b["activity_qty_4q"] == 0
    assert np.isnan(b["days_since_last_activity"])


def test_incentive_history(hand_features):
    a = hand_features.loc["A"]
    assert (a["incentive_rebate_count_1q"], a["incentive_rebate_count_4q"]) == (1, 1)
    assert (a["incentive_spiff_count_1q"], a["incentive_spiff_count_4q"]) == (0, 1)
    # spend counts every incentive, new_thing (unseen type) included; 07-05 is after t
    assert (a["incentive_count_1q"], a["incentive_cost_1q"]) == (2, 120)
    assert (a["incentive_count_4q"], a["incentive_cost_4q"]) == (3, 170)
    assert (a["incentive_count_cum"], a["incentive_cost_cum"]) == (4, 200)
    assert a["quarters_since_last_incentive"] == 0
    b = hand_features.loc["B"]
    assert (b["incentive_rebate_count_1q"], b["incentive_spiff_count_1q"]) == (1, 1)
    assert b["incentive_cost_4q"] == 100
