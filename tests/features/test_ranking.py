"""rank_partners and the last-quarter-revenue baseline on hand-computed scores."""

from __future__ import annotations

import pandas as pd
import pytest

from features.scoring import rank_by_last_revenue, rank_partners


def recommendations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": pd.array(["A", "B", "C", "D"], dtype="string"),
            "incentive": pd.array(["mdf", "none", "rebate", "spiff"], dtype="string"),
            "expected_uplift": [12_000.0, 0.0, 3_000.0, 2_500.0],
            "cost": [4_000.0, 0.0, 1_000.0, 500.0],
            "expected_net": [8_000.0, 0.0, 2_000.0, 2_000.0],
        }
    )


def test_rank_by_net_plus_weighted_growth():
    growth = pd.Series({"A": -10_000.0, "B": 50_000.0, "C": 0.0})  # D has no forecast: 0
    out = rank_partners(recommendations(), growth=growth, growth_weight=0.1)
    # scores: A 8000 - 1000 = 7000; B 0 + 5000; C 2000; D 2000 (tie with C: by id)
    assert out["partner_id"].tolist() == ["A", "B", "C", "D"]
    assert out["rank"].tolist() == [1, 2, 3, 4]
    assert out["score"].tolist() == [7_000.0, 5_000.0, 2_000.0, 2_000.0]
    assert out["reasons"].iloc[0] == (
        "mdf expected to net +8.0k (uplift +12.0k, cost 4.0k); forecast growth -10.0k next quarter"
    )
    assert out["reasons"].iloc[1].startswith("no incentive pays for itself")
    assert list(out.columns[:3]) == ["partner_id", "rank", "score"]


def test_without_growth_and_top_k():
    out = rank_partners(recommendations(), top=2)
    assert out["partner_id"].tolist() == ["A", "C"]
    assert out["reasons"].iloc[1] == "rebate expected to net +2.0k (uplift +3.0k, cost 1.0k)"


def test_reasons_name_the_chosen_incentives_effect_scale():
    # issue 23: the recommender's effect scale per incentive, as training chose it
    scales = {"spiff": "absolute", "rebate": "relative", "mdf": "mix"}
    out = rank_partners(recommendations(), scales=scales).set_index("partner_id")["reasons"]
    assert out["D"] == (
        "spiff expected to net +2.0k (uplift +2.5k, cost 500); effect in money, whatever the "
        "partner's size (scale chosen by cross-fitted value)"
    )
    assert "effect relative to the partner's expected revenue" in out["C"]
    assert "a fixed amount plus a share" in out["A"]
    assert out["B"] == "no incentive pays for itself"
    with pytest.raises(ValueError, match="growth_weight"):
        rank_partners(recommendations(), growth_weight=-1)


def test_last_revenue_baseline():
    features = pd.DataFrame({"partner_id": ["A", "B", "C"], "revenue_lag_1": [5.0, 50.0, 5.0]})
    out = rank_by_last_revenue(features)
    assert out["partner_id"].tolist() == ["B", "A", "C"]
    assert out["rank"].tolist() == [1, 2, 3]
