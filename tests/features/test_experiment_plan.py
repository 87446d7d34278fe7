"""Designing a holdout test: the draw is deterministic by seed, balanced within strata,
kept within the budget, costs what the recommender's nets say, and its rows load as the
next quarter's incentives under the data contract."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset, load_dataset
from features.data.validation import validate_folder
from features.names import NONE
from features.reporting.experiment_plan import (
    PLAN_COLUMNS,
    ExperimentPlan,
    incentive_rows,
    plan_experiment,
)
from features.scoring import PartnerRecommender
from features.world import simulate_world, write_world

CAL = QuarterCalendar(1)
NAMES = ("rebate", "spiff", "mdf")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Dataset, object]:
    folder = tmp_path_factory.mktemp("plan-world")
    write_world(simulate_world(partners=300, quarters=8, seed=5), folder)
    return load_dataset(folder), folder


def random_recommender(
    ds: Dataset, names: tuple[str, ...] = NAMES, seed: int = 2
) -> PartnerRecommender:
    """A recommender over every partner of ``ds`` with random uplifts and costs."""
    ids = ds.partners["partner_id"].astype(str)
    rng = np.random.default_rng(seed)
    options = pd.DataFrame({"partner_id": ids})
    for name in names:
        options[f"uplift_{name}"] = rng.gamma(2.0, 1000.0, len(ids))
        options[f"cost_{name}"] = rng.gamma(2.0, 700.0, len(ids))
    return PartnerRecommender(
        options=options,
        attributes=ds.partners[["partner_id", "region", "tier", "partner_type"]].astype("string"),
        growth=pd.Series(0.0, index=ids),
        as_of=ds.last_date,
    )


@pytest.fixture(scope="module")
def recommender(world) -> PartnerRecommender:
    return random_recommender(world[0])


def _plan(world, recommender, **kwargs) -> ExperimentPlan:
    return plan_experiment(recommender, world[0], calendar=CAL, **kwargs)


def test_the_same_seed_gives_the_same_plan_and_another_seed_another(world, recommender) -> None:
    a = _plan(world, recommender, share=0.3, seed=4)
    b = _plan(world, recommender, share=0.3, seed=4)
    c = _plan(world, recommender, share=0.3, seed=5)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    assert list(a.assignments.columns[:4]) == PLAN_COLUMNS
    drawn_a = set(a.assignments.loc[a.assignments["randomized"], "partner_id"])
    drawn_c = set(c.assignments.loc[c.assignments["randomized"], "partner_id"])
    assert drawn_a != drawn_c
    assert a.quarter_start == pd.Timestamp("2023-01-01")  # the quarter after 2022-12-31


def test_strata_get_their_share_and_balanced_arms(world, recommender) -> None:
    plan = _plan(world, recommender, share=0.4, seed=1)
    rows = plan.assignments
    readable = rows[~rows["stratum"].str.endswith("no_estimate")]
    assert plan.drawn == round(0.4 * len(rows))
    for stratum, part in readable.groupby("stratum"):
        drawn = part[part["randomized"]]
        assert abs(len(drawn) - 0.4 * len(part)) <= 1.0 + 1e-9, stratum
        counts = drawn["arm"].value_counts().reindex([*NAMES, NONE], fill_value=0)
        assert counts.max() - counts.min() <= 1, (stratum, counts.to_dict())
    assert not rows.loc[rows["stratum"].str.endswith("no_estimate"), "randomized"].any()
    # arms overall within a stratum count of each other
    overall = rows.loc[rows["randomized"], "arm"].value_counts()
    assert set(overall.index) == {*NAMES, NONE}
    assert overall.max() - overall.min() <= rows["stratum"].nunique()


def test_the_rest_follow_the_recommender(world, recommender) -> None:
    plan = _plan(world, recommender, share=0.25, seed=3)
    chosen = recommender.recommend(None).set_index("partner_id")["incentive"]
    rest = plan.assignments[~plan.assignments["randomized"]].set_index("partner_id")
    assert (rest["arm"] == chosen.reindex(rest.index)).all()


def test_exploration_cost_is_the_net_given_up(world, recommender) -> None:
    plan = _plan(world, recommender, share=0.3, seed=2)
    chosen = recommender.recommend(None).set_index("partner_id")["expected_net"]
    options = recommender.options.set_index("partner_id")
    drawn = plan.assignments[plan.assignments["randomized"]]
    given_up = 0.0
    for row in drawn.itertuples(index=False):
        net = 0.0
        if row.arm != NONE:
            net = (
                options.at[row.partner_id, f"uplift_{row.arm}"]
                - options.at[row.partner_id, f"cost_{row.arm}"]
            )
        given_up += chosen[row.partner_id] - net
    assert plan.exploration_cost == pytest.approx(given_up)
    assert plan.exploration_cost > 0  # the recommender's choice is the best net


def test_the_budget_caps_the_drawn_arms_and_keeps_a_prefix_of_the_draw(world, recommender) -> None:
    free = _plan(world, recommender, share=0.5, seed=6)
    budget = free.randomized_cost / 3
    capped = _plan(world, recommender, share=0.5, seed=6, budget=budget)
    assert capped.randomized_cost <= budget
    assert 0 < capped.drawn < free.drawn
    drawn_free = free.assignments.set_index("partner_id")
    drawn_capped = capped.assignments[capped.assignments["randomized"]].set_index("partner_id")
    assert drawn_free.loc[drawn_capped.index, "randomized"].all()
    assert (drawn_free.loc[drawn_capped.index, "arm"] == drawn_capped["arm"]).all()
    assert _plan(world, recommender, share=0.5, seed=6, budget=0).randomized_cost == 0


def test_minimum_detectable_effects_shrink_with_the_share(world, recommender) -> None:
    small = _plan(world, recommender, share=0.2, seed=1).min_detectable_effect
    large = _plan(world, recommender, share=0.8, seed=1).min_detectable_effect
    key = ["incentive", "segment"]
    both = small.merge(large, on=key, suffixes=("_small", "_large"))
    overall = both[both["segment"] == "all"]
    assert len(overall) == len(NAMES)
    assert (overall["mde_large"] < overall["mde_small"]).all()
    ratio = overall["mde_small"] / overall["mde_large"]  # about sqrt(0.8 / 0.2) = 2
    assert ratio.between(1.6, 2.4).all()


def test_the_plan_loads_as_next_quarters_incentives(world, recommender, tmp_path) -> None:
    ds, folder = world
    plan = _plan(world, recommender, share=0.3, seed=8)
    rows = incentive_rows(plan)
    assert rows["randomized"].sum() == plan.drawn
    assert not ((rows["incentive"] == NONE) & ~rows["randomized"]).any()
    assert (rows.loc[rows["incentive"] == NONE, "cost"] == 0).all()
    for table in ("partners", "bookings", "opportunities", "activities"):
        (tmp_path / f"{table}.csv").write_bytes((folder / f"{table}.csv").read_bytes())
    both = pd.concat([pd.read_csv(folder / "incentives.csv"), rows], ignore_index=True)
    both.assign(
        starts_on=pd.to_datetime(both["starts_on"]).dt.date,
        ends_on=pd.to_datetime(both["ends_on"]).dt.date,
    ).to_csv(tmp_path / "incentives.csv", index=False)
    assert validate_folder(tmp_path).ok


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"share": 0.0}, "share must be in"),
        ({"share": 1.5}, "share must be in"),
        ({"share": 0.2, "budget": -1.0}, "budget must be"),
        ({"share": 0.2, "seed": -3}, "seed must be"),
    ],
)
def test_bad_requests_are_bad_input(world, recommender, kwargs, message) -> None:
    with pytest.raises(BadInput, match=message):
        _plan(world, recommender, **kwargs)


def test_a_recommender_without_incentives_has_nothing_to_test(world, recommender) -> None:
    empty = dataclasses.replace(recommender, options=recommender.options[["partner_id"]])
    with pytest.raises(BadInput, match="nothing to test"):
        _plan(world, empty, share=0.2)
