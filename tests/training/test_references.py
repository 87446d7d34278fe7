"""Reference policies on a hand-worked three-partner truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.incentives import TruthMatrices, known_effect_net, reference_policies


def _truth() -> TruthMatrices:
    """Partners A, B (segment s1) and C (s2); base revenue 100, 300, 200.

    uplift x: 10, 0, -20; y: 0, 30, 40. cost x: 5 each; y: 10 each.
    True net x: 5, -5, -25; y: -10, 20, 30. Oracle: A x, B y, C y = 55, spending 25.
    """
    rows = []
    for p, base, ux, uy in [("A", 100, 10, 0), ("B", 300, 0, 30), ("C", 200, -20, 40)]:
        rows += [
            {"partner_id": p, "incentive": "none", "expected_revenue": base,
             "expected_uplift": 0.0, "expected_cost": 0.0},
            {"partner_id": p, "incentive": "x", "expected_revenue": base + ux,
             "expected_uplift": ux, "expected_cost": 5.0},
            {"partner_id": p, "incentive": "y", "expected_revenue": base + uy,
             "expected_uplift": uy, "expected_cost": 10.0},
        ]  # fmt: skip
    return TruthMatrices.from_effects(pd.DataFrame(rows))


def test_known_effect_net_uses_money_weighted_relative_effects() -> None:
    """Segment s1 (A, B): base 400, uplift x 10 -> 2.5 %, y 30 -> 7.5 %.
    A: x 2.5 - 5 = -2.5, y 7.5 - 10 = -2.5; B: x 7.5 - 5 = 2.5, y 22.5 - 10 = 12.5."""
    truth = _truth()
    net = known_effect_net(truth, np.array(["s1", "s1", "s2"]))
    assert net[:2] == pytest.approx(np.array([[-2.5, -2.5], [2.5, 12.5]]))
    assert net[2] == pytest.approx([-25.0, 30.0])  # C alone in s2: its own effects


def test_reference_policies_match_the_hand_worked_values() -> None:
    """Average effect: x -10/600, y 70/600 -> y for all: -10 + 20 + 30 = 40 (40/55).
    Segment effect: A none, B y, C y = 50 (50/55). Everyone gets x: 5 - 5 - 25 = -25.
    Budget 0.25 x 25 = 6.25: only x (cost 5) fits; the oracle gives it to A (net 5); the
    segment policy believes B's x nets 2.5 and gets -5; the average policy sees no
    affordable positive net and gives nothing."""
    rows, budget = reference_policies(
        _truth(), np.array(["s1", "s1", "s2"]), most_common="x", seed=0
    )
    assert budget == pytest.approx(6.25)
    got = rows.set_index(["policy", "budget"])
    assert got.loc[("oracle", False), "net"] == pytest.approx(55.0)
    assert got.loc[("oracle", False), "spent"] == pytest.approx(25.0)
    assert got.loc[("true average effect", False), "share_of_oracle"] == pytest.approx(40 / 55)
    assert got.loc[("true segment effect", False), "net"] == pytest.approx(50.0)
    assert got.loc[("everyone gets x", False), "net"] == pytest.approx(-25.0)
    assert got.loc[("none", False), "net"] == 0.0
    assert got.loc[("oracle", True), "net"] == pytest.approx(5.0)
    assert got.loc[("true segment effect", True), "share_of_oracle"] == pytest.approx(-1.0)
    assert got.loc[("true average effect", True), "net"] == 0.0
    assert (got.xs(True, level="budget")["spent"] <= budget).all()


def test_choice_index_maps_names_and_missing_partners_to_none() -> None:
    truth = _truth()
    choice = pd.DataFrame({"partner_id": ["C", "A"], "incentive": ["y", "none"]})
    pick = truth.choice_index(choice)
    assert pick.tolist() == [-1, -1, 1]
    assert truth.value(pick) == (30.0, 10.0, 1)
