"""Qini, AUUC, uplift at k, policy value and NDCG against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.incentives.uplift_eval import (
    auuc,
    ndcg_at_k,
    oracle_net_value,
    policy_net_value,
    qini_coefficient,
    qini_curve,
    randomized_contrasts,
    uplift_at_k,
    uplift_by_segment,
)

Y = np.array([10.0, 0.0, 5.0, 1.0])
T = np.array([True, False, True, False])
S = np.array([4.0, 3.0, 2.0, 1.0])


def test_qini_curve_by_hand():
    curve = qini_curve(Y, T, S)
    # i=1: 10; i=2: 10 - 0 * 1/1; i=3: 15; i=4: 15 - 1 * 2/2 = 14
    assert curve["qini"].tolist() == [0.0, 10.0, 10.0, 15.0, 14.0]
    assert curve["fraction"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    # gain: i=2: (10 - 0) * 2 = 20; i=3: (7.5 - 0) * 3 = 22.5; i=4: (7.5 - 0.5) * 4 = 28
    assert curve["uplift_gain"].tolist() == [0.0, 0.0, 20.0, 22.5, 28.0]


def test_qini_coefficient_auuc_and_uplift_at_k_by_hand():
    # trapezoid: 0.25 * (5 + 10 + 12.5 + 14.5) = 10.5; minus the random line 14 / 2
    assert qini_coefficient(Y, T, S) == pytest.approx(3.5)
    # 0.25 * (0 + 10 + 21.25 + 25.25)
    assert auuc(Y, T, S) == pytest.approx(14.125)
    assert uplift_at_k(Y, T, S, 0.5) == pytest.approx(10.0)
    assert uplift_at_k(Y, T, S, 1.0) == pytest.approx(7.0)
    assert np.isnan(uplift_at_k(Y, T, S, 0.25))  # no control in the top row


def test_reversed_score_has_lower_qini():
    assert qini_coefficient(Y, T, -S) < qini_coefficient(Y, T, S)


def test_ndcg_by_hand():
    rel = {"a": 1.0, "b": 3.0, "c": 2.0, "d": 0.0}
    # DCG = 1 + 3 / log2(3); IDCG = 3 + 2 / log2(3)
    expected = (1 + 3 / np.log2(3)) / (3 + 2 / np.log2(3))
    assert ndcg_at_k(np.array(["a", "b", "c"]), rel, 2) == pytest.approx(expected)
    assert ndcg_at_k(np.array(["b", "c", "a"]), rel, 3) == pytest.approx(1.0)
    assert ndcg_at_k(np.array(["x"]), {"x": -5.0}, 1) != ndcg_at_k(np.array(["x"]), rel, 1)


def effects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "partner_id": ["A", "A", "A", "B", "B", "B"],
            "incentive": ["none", "mdf", "rebate"] * 2,
            "expected_uplift": [0.0, 100.0, 50.0, 0.0, 10.0, 30.0],
            "expected_cost": [0.0, 40.0, 60.0, 0.0, 20.0, 40.0],
        }
    )


def test_policy_and_oracle_net_value():
    choice = pd.DataFrame({"partner_id": ["A", "B"], "incentive": ["rebate", "mdf"]})
    assert policy_net_value(choice, effects()) == pytest.approx(-10.0 - 10.0)
    best = pd.DataFrame({"partner_id": ["A", "B"], "incentive": ["mdf", "none"]})
    assert policy_net_value(best, effects()) == pytest.approx(60.0)
    assert oracle_net_value(effects()) == pytest.approx(60.0)


def test_randomized_contrasts_use_only_randomized_rows():
    frame = pd.DataFrame(
        {
            "incentive": ["mdf", "rebate", "mdf", "rebate", "none", "mdf"],
            "randomized": [True, True, True, True, False, False],
            "revenue": [10.0, 0.0, 5.0, 1.0, 99.0, 99.0],
        }
    )
    oof = pd.DataFrame({"mdf": [4.0, 3.0, 2.0, 1.0, 0, 0], "rebate": [0.0] * 6})
    out = randomized_contrasts(frame, oof, k=0.5).set_index("incentive")
    assert out.loc["mdf", "n_treated"] == 2 and out.loc["mdf", "n_control"] == 2
    assert out.loc["mdf", "qini"] == pytest.approx(3.5)  # the hand case above
    assert out.loc["mdf", "uplift_at_k"] == pytest.approx(10.0)


def test_uplift_by_segment_means():
    uplift = pd.DataFrame({"mdf": [1.0, 3.0, 5.0]})
    seg = pd.DataFrame({"partner_type": ["x", "x", "y"]})
    out = uplift_by_segment(uplift, seg, ("partner_type", "missing_column"))
    assert out["level"].tolist() == ["x", "y"]
    assert out["mdf"].tolist() == [2.0, 5.0]
    assert out["partners"].tolist() == [2, 1]
