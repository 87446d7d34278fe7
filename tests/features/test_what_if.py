"""What-if worked on paper: precedence, a budget cut, group deltas and their intervals.

Four partners, two incentives; every uplift interval is symmetric around the uplift:

| partner | region | tier   | type     | mdf uplift (cost, +-) | rebate uplift (cost, +-) |
|---------|--------|--------|----------|-----------------------|--------------------------|
| P1      | EMEA   | Gold   | reseller | 1000 (300, 400)       | 500 (100, 200)           |
| P2      | EMEA   | Silver | reseller | 400 (300, 200)        | 300 (100, 100)           |
| P3      | AMER   | Gold   | msp      | 600 (200, 300)        | 100 (50, 50)             |
| P4      | AMER   | Silver | reseller | 200 (250, 100)        | 150 (50, 50)             |

The plan ``PLAN``: EMEA mdf, P2 rebate (beats EMEA), AMER+Silver rebate, AMER none. So P1
mdf (1000, cost 300, 600..1400), P2 rebate (300, cost 100, 200..400), P3 none (AMER beats
nothing more specific), P4 rebate (150, cost 50, 100..200; two columns beat one).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.reporting.what_if import GROUP_COLUMNS, PlanError, evaluate_plan, plan_frame
from features.scoring import PartnerRecommender

CAL = QuarterCalendar()
IDS = ["P1", "P2", "P3", "P4"]
UPLIFT = {"mdf": [1000, 400, 600, 200], "rebate": [500, 300, 100, 150]}
COST = {"mdf": [300, 300, 200, 250], "rebate": [100, 100, 50, 50]}
HALF = {"mdf": [400, 200, 300, 100], "rebate": [200, 100, 50, 50]}
PLAN = [
    {"region": "EMEA", "incentive": "mdf"},
    {"partner_id": "P2", "incentive": "rebate"},
    {"region": "AMER", "tier": "Silver", "incentive": "rebate"},
    {"region": "AMER", "incentive": "none"},
]


def recommender(intervals: bool = True) -> PartnerRecommender:
    options = pd.DataFrame({"partner_id": IDS})
    for name in UPLIFT:
        options[f"uplift_{name}"] = np.array(UPLIFT[name], dtype=float)
    for name in UPLIFT:
        options[f"cost_{name}"] = np.array(COST[name], dtype=float)
    if intervals:
        for name in UPLIFT:
            options[f"p10_uplift_{name}"] = np.subtract(UPLIFT[name], HALF[name]).astype(float)
        for name in UPLIFT:
            options[f"p90_uplift_{name}"] = np.add(UPLIFT[name], HALF[name]).astype(float)
    attributes = pd.DataFrame(
        {
            "partner_id": IDS,
            "region": ["EMEA", "EMEA", "AMER", "AMER"],
            "tier": ["Gold", "Silver", "Gold", "Silver"],
            "partner_type": ["reseller", "reseller", "msp", "reseller"],
        }
    )
    return PartnerRecommender(
        options=options,
        attributes=attributes,
        growth=pd.Series(0.0, index=IDS),
        as_of=pd.Timestamp("2025-11-15"),
    )


def groups(result) -> dict[tuple[str, str], tuple[float, ...]]:
    cols = ["delta_p10", "delta_p50", "delta_p90", "partners_treated", "cost", "expected_net"]
    return {
        (r.group_by, r.group): tuple(getattr(r, c) for c in cols)
        for r in result.groups.itertuples(index=False)
    }


def test_precedence_totals_and_group_intervals_by_hand() -> None:
    result = evaluate_plan(recommender(), PLAN, calendar=CAL)
    got = result.partners.set_index("partner_id")
    assert got["incentive"].tolist() == ["mdf", "rebate", "none", "rebate"]
    assert got["row"].tolist() == [0, 1, 3, 2]  # P3 follows the AMER row: none
    assert result.quarter_start == pd.Timestamp("2026-01-01")
    assert (result.cost, result.expected_net) == (450.0, 1000.0)  # 1450 uplift - 450
    # comonotone: the bounds add, 900 and 2000, less the cost
    assert (result.expected_net_p10, result.expected_net_p90) == (450.0, 1550.0)
    assert list(result.groups.columns) == list(GROUP_COLUMNS)
    assert groups(result) == {
        ("region", "AMER"): (100, 150, 200, 1, 50, 100),
        ("region", "EMEA"): (800, 1300, 1800, 2, 400, 900),
        ("tier", "Gold"): (600, 1000, 1400, 1, 300, 700),
        ("tier", "Silver"): (300, 450, 600, 2, 150, 300),
        ("partner_type", "msp"): (0, 0, 0, 0, 0, 0),  # untouched groups are listed, 0
        ("partner_type", "reseller"): (900, 1450, 2000, 3, 450, 1000),
        ("total", "total"): (900, 1450, 2000, 3, 450, 1000),
    }
    assert (result.groups["quarter_start"] == pd.Timestamp("2026-01-01")).all()
    rows = result.rows
    assert rows["partners"].tolist() == [1, 1, 1, 1]
    assert rows["expected_net"].tolist() == [700, 200, 100, 0]
    assert rows["kept"].all() and result.dropped_rows == []


def test_a_budget_keeps_the_highest_net_rows_that_fit_and_drops_whole_rows() -> None:
    # by net: EMEA mdf (700, cost 300) does not fit 160; P2 rebate (200, 100) fits;
    # AMER+Silver rebate (100, 50) fits: 150; AMER none costs nothing
    result = evaluate_plan(recommender(), PLAN, budget=160, calendar=CAL)
    assert result.rows["kept"].tolist() == [False, True, True, True]
    assert result.dropped_rows == [0]
    got = result.partners.set_index("partner_id")
    # P1's row was dropped: P1 gets none, not another row's incentive
    assert got["planned_incentive"].tolist() == ["mdf", "rebate", "none", "rebate"]
    assert got["incentive"].tolist() == ["none", "rebate", "none", "rebate"]
    assert (result.cost, result.expected_net) == (150.0, 300.0)
    assert (result.expected_net_p10, result.expected_net_p90) == (150.0, 450.0)
    assert groups(result)[("region", "EMEA")] == (200, 300, 400, 1, 100, 200)


def test_a_budget_never_cuts_a_plan_that_fits_and_zero_keeps_free_rows() -> None:
    assert evaluate_plan(recommender(), PLAN, budget=450, calendar=CAL).dropped_rows == []
    nothing = evaluate_plan(recommender(), PLAN, budget=0, calendar=CAL)
    assert nothing.dropped_rows == [0, 1, 2] and nothing.cost == 0.0
    assert nothing.rows["kept"].tolist() == [False, False, False, True]


def test_same_specificity_rows_agreeing_are_fine_and_the_first_counts() -> None:
    plan = [{"region": "EMEA", "incentive": "mdf"}, {"tier": "Gold", "incentive": "mdf"}]
    result = evaluate_plan(recommender(), plan, calendar=CAL)
    rows = result.partners["row"]
    assert rows.iloc[:3].tolist() == [0, 0, 1] and pd.isna(rows.iloc[3])  # P4: no row
    assert result.rows["partners"].tolist() == [2, 1]
    assert result.cost == 800.0  # P1, P2, P3 on mdf


def test_the_recommenders_plan_is_its_best_net_per_partner() -> None:
    rec = recommender()
    result = evaluate_plan(rec, None, calendar=CAL)
    # nets mdf/rebate: P1 700/400, P2 100/200, P3 400/50, P4 -50/100
    assert result.partners["incentive"].tolist() == ["mdf", "rebate", "mdf", "rebate"]
    assert (result.cost, result.expected_net) == (650.0, 1400.0)
    assert result.rows.empty and result.dropped_rows == []
    expected = rec.recommend(None, budget=400)
    within = evaluate_plan(rec, None, budget=400, calendar=CAL)
    assert within.partners["incentive"].tolist() == expected["incentive"].tolist()
    assert within.cost == expected["cost"].sum() <= 400


def test_without_intervals_the_bounds_are_empty_not_made_up() -> None:
    result = evaluate_plan(recommender(intervals=False), PLAN, calendar=CAL)
    assert math.isnan(result.expected_net_p10) and math.isnan(result.expected_net_p90)
    g = result.groups.set_index(["group_by", "group"])
    assert math.isnan(g.loc[("region", "EMEA"), "delta_p10"])
    assert g.loc[("region", "EMEA"), "delta_p50"] == 1300
    assert g.loc[("partner_type", "msp"), "delta_p10"] == 0  # nothing planned there: no change


@pytest.mark.parametrize(
    "plan, message, detail",
    [
        ([{"partner_id": "P9", "incentive": "mdf"}], "unknown to the recommender",
         {"unknown_partner_ids": ["P9"]}),
        ([{"region": "EMEA", "incentive": "spiff"}], "unknown incentive(s) ['spiff'] in "
         "plan row(s) row 1",
         {"unknown_incentives": ["spiff"]}),
        ([{"incentive": "mdf"}], "row 1: neither partner_id nor a segment", {"rows": ["row 1"]}),
        ([{"partner_id": "P1", "region": "EMEA", "incentive": "mdf"}],
         "both partner_id and a segment",
         {"rows": ["row 1"]}),
        ([{"region": "EMEA"}], "no incentive column", {}),
        ([{"region": "EMEA", "incentive": ""}], "row 1: no incentive", {"rows": ["row 1"]}),
        ([{"region": "Mars", "incentive": "mdf"}], "region ['Mars'] matches no partner",
         {"unknown_region": ["Mars"]}),
        ([{"partner_id": "P1", "incentive": "mdf"}, {"partner_id": "P1", "incentive": "mdf"}],
         "plan rows row 1, row 2 set partner P1 twice", {"rows": ["row 1", "row 2"]}),
        ([{"region": "EMEA", "incentive": "mdf"}, {"tier": "Gold", "incentive": "rebate"}],
         "conflicting plan rows row 1 (segment region=EMEA: mdf); row 2 (segment tier=Gold: "
         "rebate) both apply to 1 partner(s) (e.g. P1)", {"conflicting_partner_ids": ["P1"]}),
        ([{"partner": "P1", "incentive": "mdf"}], "unknown plan column(s) ['partner']", {}),
        ([], "the plan has no rows", {}),
    ],
)  # fmt: skip
def test_bad_plans_say_what_to_fix(plan, message, detail) -> None:
    with pytest.raises(PlanError) as caught:
        evaluate_plan(recommender(), plan, calendar=CAL)
    assert message in str(caught.value)
    for key, value in detail.items():
        assert caught.value.details[key] == value


def test_labels_name_the_rows_and_a_bad_budget_is_refused() -> None:
    with pytest.raises(PlanError, match="line 3: neither"):
        evaluate_plan(
            recommender(),
            [{"region": "EMEA", "incentive": "mdf"}, {"incentive": "mdf"}],
            calendar=CAL,
            labels=["line 2", "line 3"],
        )
    with pytest.raises(PlanError, match="budget must be"):
        evaluate_plan(recommender(), PLAN, budget=-1, calendar=CAL)


def test_plan_cells_are_trimmed_and_blank_cells_are_absent() -> None:
    frame = plan_frame(
        pd.DataFrame(
            {"partner_id": [" P1 ", ""], "region": [np.nan, "EMEA"], "incentive": ["mdf", "none"]}
        )
    )
    assert frame["partner_id"].tolist() == ["P1", None]
    assert frame["region"].tolist() == [None, "EMEA"]
    assert frame["tier"].tolist() == [None, None]
