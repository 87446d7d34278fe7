"""recommend_incentives and the budget solvers: hand cases, exactness, budget, vocabulary."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
import pytest

from features.scoring.policy import (
    RECOMMEND_COLUMNS,
    _native_stdout_to_devnull,
    choose_within_budget,
    greedy_knapsack,
    milp_knapsack,
    recommend_incentives,
)

IDS = np.array(["A", "B", "C"])


def frames(uplift: list[list[float]], cost: list[list[float]], names=("mdf", "rebate")):
    return (
        pd.DataFrame(uplift, columns=list(names)),
        pd.DataFrame(cost, columns=list(names)),
    )


def test_best_net_per_partner_and_contract_columns():
    up, co = frames([[500, 300], [100, 900], [50, 60]], [[100, 50], [10, 200], [10, 10]])
    rec = recommend_incentives(up, co, IDS)
    # nets: A 400 / 250 -> mdf; B 90 / 700 -> rebate; C 40 / 50 -> rebate
    assert list(rec.columns) == [
        *RECOMMEND_COLUMNS,
        "uplift_mdf",
        "uplift_rebate",
        "cost_mdf",
        "cost_rebate",
    ]
    assert rec["incentive"].tolist() == ["mdf", "rebate", "rebate"]
    assert rec["expected_uplift"].tolist() == [500, 900, 60]
    assert rec["cost"].tolist() == [100, 200, 10]
    assert rec["expected_net"].tolist() == [400, 700, 50]
    assert rec["partner_id"].tolist() == ["A", "B", "C"]


def test_none_when_every_net_is_negative():
    up, co = frames([[100, 100], [5, 0], [-50, 20]], [[150, 101], [5, 1], [0, 30]])
    rec = recommend_incentives(up, co, IDS)
    assert rec["incentive"].tolist() == ["none", "none", "none"]
    assert (rec[["expected_uplift", "cost", "expected_net"]].to_numpy() == 0).all()
    assert rec["uplift_mdf"].tolist() == [100, 5, -50]  # the estimates stay visible


def test_incentive_never_seen_in_training_is_never_recommended():
    up, co = frames([[10, 20], [10, 20], [10, 20]], [[1, 1], [1, 1], [1, 1]])
    co["free_trip"] = 0.0  # a cost table naming an incentive the model never learned
    rec = recommend_incentives(up, co, IDS, allowed=["free_trip", "mdf"])
    assert set(rec["incentive"]) == {"mdf"}
    assert "uplift_free_trip" not in rec.columns


def test_allowed_subset_and_cost_overrides():
    up, co = frames([[500, 300], [100, 900], [50, 60]], [[100, 50], [10, 200], [10, 10]])
    assert set(recommend_incentives(up, co, IDS, allowed=["mdf"])["incentive"]) == {"mdf"}
    co["rebate"] = 5_000.0  # an override: rebates now cost 5000 for everyone
    rec = recommend_incentives(up, co, IDS)
    assert rec["incentive"].tolist() == ["mdf", "mdf", "mdf"]
    assert (rec["cost_rebate"] == 5_000.0).all()


def brute_force(net: np.ndarray, cost: np.ndarray, budget: float) -> float:
    best = 0.0
    for pick in itertools.product(range(-1, net.shape[1]), repeat=net.shape[0]):
        rows = [i for i, j in enumerate(pick) if j >= 0]
        spent = sum(cost[i, pick[i]] for i in rows)
        if spent <= budget:
            best = max(best, sum(net[i, pick[i]] for i in rows))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_budget_solution_is_optimal_on_small_cases(seed):
    rng = np.random.default_rng(seed)
    net = rng.normal(50, 60, (5, 3)).round(1)
    cost = rng.uniform(10, 100, (5, 3)).round(1)
    budget = float(rng.uniform(50, 200))
    choice = choose_within_budget(net, cost, budget)
    picked = choice >= 0
    assert cost[picked, choice[picked]].sum() <= budget
    assert net[picked, choice[picked]].sum() == pytest.approx(brute_force(net, cost, budget))


def test_budget_respected_exactly_at_the_boundary():
    # 0.1 + 0.2 > 0.3 in floating point: the solver must not take both
    net = np.array([[5.0], [5.0], [1.0]])
    cost = np.array([[0.1], [0.2], [0.3]])
    for solve in (choose_within_budget, greedy_knapsack, milp_knapsack):
        choice = solve(net, cost, 0.3)
        picked = choice >= 0
        assert pd.Series(cost[picked, choice[picked]]).sum() <= 0.3


def test_recommendations_within_budget_on_many_partners():
    rng = np.random.default_rng(3)
    n = 300
    names = ["a", "b", "c"]
    up = pd.DataFrame(rng.lognormal(8, 1, (n, 3)), columns=names)
    co = pd.DataFrame(rng.lognormal(7.5, 0.5, (n, 3)), columns=names)
    free = recommend_incentives(up, co, np.arange(n).astype(str))
    budget = 0.25 * free["cost"].sum()
    rec = recommend_incentives(up, co, np.arange(n).astype(str), budget=budget)
    assert rec["cost"].sum() <= budget
    assert rec["cost"].sum() > 0.99 * budget  # the budget is used, not left on the table
    assert rec["expected_net"].sum() >= greedy_value(up, co, budget) - 1e-6
    assert (rec["expected_net"] >= 0).all()


def greedy_value(up: pd.DataFrame, co: pd.DataFrame, budget: float) -> float:
    net = (up - co).to_numpy()
    choice = greedy_knapsack(net, co.to_numpy(), budget)
    picked = choice >= 0
    return float(net[picked, choice[picked]].sum())


def test_zero_budget_gives_none_and_negative_budget_fails():
    up, co = frames([[500, 300], [100, 900], [50, 60]], [[100, 50], [10, 200], [10, 10]])
    assert set(recommend_incentives(up, co, IDS, budget=0.0)["incentive"]) == {"none"}
    with pytest.raises(ValueError, match="budget"):
        recommend_incentives(up, co, IDS, budget=-1.0)


def test_solver_output_never_reaches_stdout(capfd):
    with _native_stdout_to_devnull():
        os.write(1, b"native noise\n")
    print("result")
    assert capfd.readouterr().out == "result\n"
