"""Reading randomized tests: the clustered least squares on hand-worked numbers, the
minimum detectable effect on hand-made ones, and the report on simulated worlds whose
effects are known (a planted +50 % / -30 % world, and a world where nothing works)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from features.calendar import QuarterCalendar
from features.data import Dataset, load_dataset
from features.names import NONE
from features.reporting.clustered import (
    Z_POWER,
    clustered_wls,
    minimum_detectable_effect,
    unit_variance,
)
from features.reporting.experiments import (
    REPORT_COLUMNS,
    ExperimentError,
    experiment_calibration,
    floor_expected,
    read_experiment,
)
from features.world import simulate_world, write_world
from features.world.scenarios import get_scenario

CAL = QuarterCalendar(1)


# -- statistics on hand-worked numbers -------------------------------------------------
def test_clustered_wls_matches_the_hand_worked_sandwich() -> None:
    # y = 1, 2 (control), 3, 4 (treated): coefficients 1.5 and 2; residuals -+0.5;
    # X'X = [[4, 2], [2, 2]], inv = [[.5, -.5], [-.5, 1]], every leverage 0.5, so the
    # corrected residuals are -+1, the meat is X'X and cov = inv: var(treated) = 1.
    x = np.column_stack([np.ones(4), [0, 0, 1, 1]])
    fit = clustered_wls(np.array([1.0, 2, 3, 4]), x, np.ones(4), np.array(["a", "b", "c", "d"]))
    assert fit.coef == pytest.approx([1.5, 2.0])
    assert fit.se == pytest.approx([math.sqrt(0.5), 1.0])
    t = stats.t.ppf(0.975, 3)
    assert (fit.ci_low[1], fit.ci_high[1]) == pytest.approx((2 - t, 2 + t))
    assert fit.clusters == 4


def test_the_weighted_treatment_coefficient_is_a_difference_of_ratios() -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(1, 10, 40)
    d = np.r_[np.zeros(20), np.ones(20)]
    revenue = w * (1 + 0.2 * d) + rng.normal(0, 1, 40)
    y = revenue / w - 1
    fit = clustered_wls(y, np.column_stack([np.ones(40), d]), w, np.arange(40))
    t, c = d == 1, d == 0
    expected = (revenue[t].sum() - w[t].sum()) / w[t].sum() - (revenue[c].sum() - w[c].sum()) / w[
        c
    ].sum()
    assert fit.coef[1] == pytest.approx(expected)


def test_clustering_widens_the_interval_when_a_partner_repeats() -> None:
    rng = np.random.default_rng(1)
    partner = np.repeat(np.arange(30), 4)
    shock = rng.normal(0, 1, 30)[partner]  # each partner's four rows move together
    d = (partner % 2).astype(float)
    y = shock + rng.normal(0, 0.2, 120)
    x = np.column_stack([np.ones(120), d])
    clustered = clustered_wls(y, x, np.ones(120), partner)
    rows = clustered_wls(y, x, np.ones(120), np.arange(120))
    assert clustered.se[1] > 1.6 * rows.se[1]


def test_too_few_clusters_is_an_error() -> None:
    with pytest.raises(ValueError, match="clusters"):
        clustered_wls(np.ones(3), np.ones((3, 1)), np.ones(3), np.zeros(3))


def test_minimum_detectable_effect_on_hand_made_numbers() -> None:
    assert pytest.approx(1.959964 + 0.841621, abs=1e-5) == Z_POWER
    # 2.80 * sigma * sqrt(1/100 + 1/100) with sigma = 1
    assert minimum_detectable_effect(1.0, 100, 100) == pytest.approx(
        2.801585 * math.sqrt(0.02), rel=1e-5
    )
    assert minimum_detectable_effect(4.0, 50, 200) == pytest.approx(
        Z_POWER * math.sqrt(4 * (1 / 50 + 1 / 200))
    )
    assert math.isnan(minimum_detectable_effect(1.0, 0, 3))
    # equal weights: the variance; values 0, 2 with weights 1, 3 (mean 1.5): residuals
    # -1.5, 0.5, mean(w^2 e^2) = (2.25 + 2.25) / 2 = 2.25, mean(w)^2 = 4 -> 0.5625
    assert unit_variance(np.array([0.0, 2.0]), np.ones(2)) == pytest.approx(1.0)
    assert unit_variance(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx(0.5625)


def test_floor_lifts_tiny_and_missing_estimates_to_a_tenth_of_the_median() -> None:
    got = floor_expected(np.array([np.nan, 0.0, 5.0, 100.0, 200.0, 300.0]))
    assert got.tolist() == [15.0, 15.0, 15.0, 100.0, 200.0, 300.0]  # median of 5..300: 150


# -- worlds with known effects ---------------------------------------------------------
def _planted_world(tmp_path_factory, name: str, effects: dict[str, float]) -> tuple:
    base = get_scenario("no_effect").params
    incentives = tuple(
        dataclasses.replace(spec, base=effects.get(spec.name, 0.0)) for spec in base.incentives
    )
    params = dataclasses.replace(
        base, incentives=incentives, randomized_share=0.5, effect_bounds=(-0.6, 0.6)
    )
    world = simulate_world(partners=1200, quarters=8, seed=11, params=params)
    folder = tmp_path_factory.mktemp(name)
    write_world(world, folder)
    return load_dataset(folder), world.truth["incentive_effects"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Dataset, pd.DataFrame]:
    return _planted_world(tmp_path_factory, "planted", {"rebate": 0.50, "spiff": -0.30})


@pytest.fixture(scope="module")
def inert(tmp_path_factory) -> tuple[Dataset, pd.DataFrame]:
    return _planted_world(tmp_path_factory, "inert", {})


def _true_effects(units: pd.DataFrame, truth: pd.DataFrame, by: list[str]) -> pd.Series:
    """The estimand: the treated partners' true uplift over their expected revenue."""
    truth = truth.assign(quarter_start=pd.to_datetime(truth["quarter_start"]))
    treated = units[units["arm"] != NONE].merge(
        truth[["partner_id", "quarter_start", "incentive", "expected_uplift"]],
        left_on=["partner_id", "quarter_start", "arm"],
        right_on=["partner_id", "quarter_start", "incentive"],
    )
    sums = treated.groupby(by)[["expected_uplift", "expected_revenue"]].sum()
    return sums["expected_uplift"] / sums["expected_revenue"]


def test_the_report_recovers_planted_effects_within_its_intervals(planted) -> None:
    ds, truth = planted
    report = read_experiment(ds, calendar=CAL)
    assert list(report.effects.columns[: len(REPORT_COLUMNS)]) == REPORT_COLUMNS
    last4 = report.units[report.units["quarter_start"] >= pd.Timestamp("2021-10-01")]
    true = _true_effects(last4, truth, ["quarter_start", "arm"])
    rows = report.effects[report.effects["segment"] == "all"].merge(
        true.rename("true").reset_index(),
        left_on=["quarter_start", "incentive"],
        right_on=["quarter_start", "arm"],
    )
    assert len(rows) == 20  # 4 quarters with truth x 5 incentives
    covered = (rows["ci_low"] <= rows["true"]) & (rows["true"] <= rows["ci_high"])
    assert covered.sum() >= 18
    # pooled over all eight quarters: rebate clearly up, spiff clearly down, nothing else
    pooled = read_experiment(ds, calendar=CAL, pooled=True).effects
    pooled = pooled[pooled["segment"] == "all"].set_index("incentive")
    print(pooled, true.groupby(level="arm").mean())
    assert pooled.loc["rebate", "ci_low"] > 0.1
    assert pooled.loc["spiff", "ci_high"] < 0
    others = pooled.loc[["co_marketing", "enablement", "mdf"]]
    assert ((others["ci_low"] <= 0) & (others["ci_high"] >= 0)).sum() >= 2


def test_on_a_world_where_nothing_works_the_intervals_cover_zero(inert) -> None:
    ds, _ = inert
    report = read_experiment(ds, calendar=CAL)
    effects = report.effects
    covered = (effects["ci_low"] <= 0) & (effects["ci_high"] >= 0)
    assert len(effects) >= 40
    assert covered.mean() >= 0.9  # 95 % intervals, segment rows included
    pooled = read_experiment(ds, calendar=CAL, pooled=True).effects
    pooled_all = pooled[pooled["segment"] == "all"]
    assert len(pooled_all) == 5
    assert ((pooled_all["ci_low"] <= 0) & (pooled_all["ci_high"] >= 0)).sum() >= 4


def test_segments_need_twenty_partners_per_arm(planted) -> None:
    effects = read_experiment(planted[0], calendar=CAL).effects
    segments = effects[effects["segment"] != "all"]
    assert len(segments) > 0
    assert (segments[["n_treated", "n_control"]] >= 20).all().all()
    assert set(segments["segment"].str.split("=").str[0]) <= {"partner_type", "tier", "region"}


def _units(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Randomized units whose true relative effect is known per partner and incentive:
    rebate +0.5 * (size ratio), spiff -0.3, mdf 0; revenue with 20 % lognormal noise."""
    rng = np.random.default_rng(seed)
    effects = {"rebate": 0.5, "spiff": -0.3, "mdf": 0.0}
    arm = rng.choice([NONE, *effects], n)
    expected = rng.lognormal(10, 1.2, n)
    ratio = rng.lognormal(0, 0.4, n)  # truth / baseline: the baseline is not exact
    truth = expected * ratio
    lift = np.array([effects.get(a, 0.0) for a in arm])
    revenue = truth * (1 + lift) * rng.lognormal(-0.02, 0.2, n)
    units = pd.DataFrame(
        {
            "partner_id": [f"P{i}" for i in range(n)],
            "quarter_start": pd.Timestamp("2025-01-01"),
            "arm": arm,
            "revenue": revenue,
            "expected_revenue": expected,
            "outcome": revenue / expected - 1,
        }
    )
    options = pd.DataFrame({"partner_id": units["partner_id"]})
    for name, effect in effects.items():
        options[f"uplift_{name}"] = truth * effect  # the true uplift in money
    return units, options


def test_calibration_of_true_uplifts_has_slope_one_and_intercept_zero() -> None:
    fits = [experiment_calibration(*_units(4000, seed=seed)) for seed in range(5)]
    assert sum(f.slope_ci[0] <= 1.0 <= f.slope_ci[1] for f in fits) >= 4  # 95 % intervals
    assert sum(f.intercept_ci[0] <= 0.0 <= f.intercept_ci[1] for f in fits) >= 4
    assert all(f.slope_ci[1] - f.slope_ci[0] < 0.5 for f in fits)
    units, options = _units(4000, seed=0)
    calibration = fits[0]
    assert calibration.n_treated == int((units["arm"] != NONE).sum())
    # uplifts predicted ten times too large: the slope is a tenth, the intercept unmoved
    scaled = options.assign(**{c: options[c] * 10 for c in options if c.startswith("uplift_")})
    too_big = experiment_calibration(units, scaled)
    assert too_big.slope == pytest.approx(calibration.slope / 10, rel=1e-6)
    assert too_big.intercept == pytest.approx(calibration.intercept, abs=1e-9)


def test_calibration_on_the_planted_world_sees_the_true_uplifts_as_real(planted) -> None:
    ds, truth = planted
    report = read_experiment(ds, calendar=CAL)
    units = report.units[report.units["quarter_start"] >= pd.Timestamp("2021-10-01")]
    wide = truth.assign(quarter_start=pd.to_datetime(truth["quarter_start"])).pivot_table(
        index=["partner_id", "quarter_start"], columns="incentive", values="expected_uplift"
    )
    calibration = experiment_calibration(units, wide.add_prefix("uplift_").reset_index())
    assert calibration.slope_ci[0] > 0.3  # the true uplifts explain the measured effects
    assert calibration.slope_ci[1] < 1.5
    assert calibration.n_treated > 1500


def test_no_randomized_rows_names_the_table_and_column(planted) -> None:
    ds, _ = planted
    plain = dataclasses.replace(ds, incentives=ds.incentives.assign(randomized=False))
    with pytest.raises(ExperimentError, match="incentives, column randomized"):
        read_experiment(plain, calendar=CAL)
    no_control = dataclasses.replace(
        ds, incentives=ds.incentives[ds.incentives["incentive"] != NONE]
    )
    with pytest.raises(ExperimentError, match="incentive = none"):
        read_experiment(no_control, calendar=CAL)
    with pytest.raises(ExperimentError, match="no randomized rows starting in the quarter"):
        read_experiment(ds, calendar=CAL, quarter_start="2030-01-15")
