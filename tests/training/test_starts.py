"""The start the boosters correct, chosen per horizon on the training rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.scoring.quantiles import QuantileBundle
from training.forecast import QuantileForecaster
from training.forecast.starts import choose_starts


def test_a_candidate_replaces_the_default_only_where_it_is_clearly_better():
    # horizon 1: default errs 30 of 200 (0.15), candidate 10 (0.05): the candidate
    # horizon 2: default errs 20 of 200 (0.10), candidate 19.8 (0.099, 1% better): default
    # horizon 3: the candidate is NaN (counts as 0, WAPE 1.0): default
    X = pd.DataFrame(
        {
            "plan": [80.0, 90.0, 110.0, 110.0, 100.0, 100.0],
            "trend": [95.0, 105.0, 100.0, 80.2, np.nan, np.nan],
        }
    )
    y = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    horizon = np.array([1, 1, 2, 2, 3, 3])
    starts = choose_starts(X, y, horizon, default="plan", candidates=["trend"])
    assert starts == {1: "trend", 2: "plan", 3: "plan"}
    assert choose_starts(X, y, horizon, default="plan", candidates=["trend"], margin=0.0)[2] == (
        "trend"
    )
    with pytest.raises(ValueError, match="missing"):
        choose_starts(X, y, horizon, default="plan", candidates=["missing"])


def test_bundle_reads_each_horizons_start_and_the_nearest_for_an_unseen_one(tmp_path):
    X = pd.DataFrame(
        {"horizon": [1, 2, 3, 4], "plan": [1000.0] * 4, "trend": [3000.0, np.nan, 5000.0, 7000.0]}
    )
    bundle = QuantileBundle(
        boosters={},
        feature_names=(),
        scale=1000.0,
        offset_column="plan",
        offset_by_horizon={1: "trend", 2: "trend", 3: "plan"},
    )
    # horizon 4 takes horizon 3's start (the nearest); NaN counts as 0
    np.testing.assert_allclose(bundle.offset(X), np.arcsinh([3.0, 0.0, 1.0, 1.0]))
    loaded = QuantileBundle.load(bundle.save(tmp_path / "bundle"))
    assert loaded.offset_by_horizon == {1: "trend", 2: "trend", 3: "plan"}
    assert QuantileBundle(boosters={}, feature_names=(), offset_column="plan").offset(
        X
    ) == pytest.approx(np.arcsinh([1.0] * 4))


def _levels(n: int = 600) -> tuple:
    """``n`` rows at horizons 1 and 2 over six target quarters: a partner level, its revenue
    (the level with 10% noise), the rows' horizon and time, and a noise column."""
    rng = np.random.default_rng(0)
    level = np.exp(rng.normal(9, 1, n))
    horizon = np.tile([1, 2], n // 2)
    time = np.repeat(np.arange(6), n // 6)
    y = level * np.exp(rng.normal(0, 0.1, n))
    return level, y, horizon, time, rng.normal(size=n)


def test_forecaster_starts_from_the_better_column_and_its_trees_never_see_it():
    level, y, horizon, time, noise = _levels()
    X = pd.DataFrame(
        {
            "horizon": horizon,
            "plan": level * np.where(horizon == 1, 1.0, 0.5),  # half the level at horizon 2
            "trend": level * 1.02,
            "noise": noise,
        }
    )
    model = QuantileForecaster(
        n_estimators=30, offset_column="plan", offset_candidates=("trend",), random_state=1
    ).fit(X, y, time=time, horizon=horizon)
    assert model.starts_ == {1: "plan", 2: "trend"}
    assert "trend" not in model.features_used_ and "plan" in model.features_used_
    p50 = model.predict_quantiles(X, horizon=horizon)["p50"].to_numpy()
    h2 = horizon == 2
    assert np.abs(p50[h2] / y[h2] - 1).mean() < 0.15  # from the right start, not 0.5 x
    plain = QuantileForecaster(n_estimators=30, offset_column="plan", random_state=1)
    assert plain.fit(X.drop(columns="trend"), y, time=time, horizon=horizon).starts_ == {}
    # features without the candidate (an older spec): the default start, no error
    older = QuantileForecaster(
        n_estimators=30, offset_column="plan", offset_candidates=("trend",), random_state=1
    )
    assert older.fit(X.drop(columns="trend"), y, time=time, horizon=horizon).starts_ == {}


def test_with_two_candidates_each_horizon_takes_the_best_of_the_three():
    # y = 100 everywhere. horizon 1: plan errs 20 (WAPE 0.10), trend 10 (0.05), season 30
    # (0.15): trend. Horizon 2: plan 0.10, trend 0.12, season 0.01: season. Horizon 3: the
    # best candidate (season 0.099) is within 2% of plan (0.10): plan
    X = pd.DataFrame(
        {
            "plan": [90.0, 110.0, 90.0, 110.0, 90.0, 110.0],
            "trend": [95.0, 105.0, 88.0, 112.0, 80.0, 80.0],
            "season": [85.0, 115.0, 99.0, 101.0, 90.1, 109.8],
        }
    )
    y = np.full(6, 100.0)
    horizon = np.array([1, 1, 2, 2, 3, 3])
    starts = choose_starts(X, y, horizon, default="plan", candidates=["trend", "season"])
    assert starts == {1: "trend", 2: "season", 3: "plan"}


def test_default_candidates_include_the_seasonal_plans_and_none_is_a_tree_feature():
    from training.forecast.config import DEFAULT_PARAMS, ForecastConfig

    starts = ("trend_run_rate_plan", "seasonal_plan", "seasonal_trend_plan")
    assert DEFAULT_PARAMS["offset_candidates"] == starts
    model = ForecastConfig().estimator()
    assert model._start_only() == list(starts)


def test_a_short_history_starts_from_the_seasonal_trended_plan_instead_of_the_trended_one():
    # y is the level (10% noise). The trended plan is the level (WAPE ~0.08), the seasonal
    # trended plan 1.1 x it (~0.12), the seasonal plan 0.6 x (0.40), the default 0.5 x (0.50).
    # Six target quarters (a short history, < 8): the season-blind trended plan is no
    # candidate, so horizons 1-2 start from the seasonal trended plan, and so do horizons 3-4
    # (no training rows). Eight target quarters: the trended plan at 1-2, the seasonal plan
    # at 3-4 (as before), and the seasonal trended plan is no candidate
    level, y, horizon, time, noise = _levels()
    X = pd.DataFrame(
        {
            "horizon": horizon,
            "plan": level * 0.5,
            "trend_run_rate_plan": level,
            "seasonal_plan": level * 0.6,
            "seasonal_trend_plan": level * 1.1,
            "noise": noise,
        }
    )
    candidates = ("trend_run_rate_plan", "seasonal_plan", "seasonal_trend_plan")

    def fit(t: np.ndarray) -> QuantileForecaster:
        return QuantileForecaster(
            n_estimators=30, offset_column="plan", offset_candidates=candidates, random_state=1
        ).fit(X, y, time=t, horizon=horizon)

    short = fit(time)
    assert short.history_quarters_ == 6
    assert short.starts_ == {k: "seasonal_trend_plan" for k in (1, 2, 3, 4)}
    assert set(candidates).isdisjoint(short.features_used_)
    # a horizon-4 row starts at 1.1 x its level
    start = np.sinh(short.bundle_.offset(X.iloc[[0]].assign(horizon=4))) * short.scale
    np.testing.assert_allclose(start, [1.1 * level[0]], rtol=1e-6)
    longer = fit(np.repeat(np.arange(8), len(y) // 8 + 1)[: len(y)])
    assert longer.history_quarters_ == 8
    assert longer.starts_ == {
        1: "trend_run_rate_plan",
        2: "trend_run_rate_plan",
        3: "seasonal_plan",
        4: "seasonal_plan",
    }


def test_the_seasonal_trended_plan_is_the_trended_plan_times_the_season(small_world) -> None:
    from features.calendar import QuarterCalendar
    from training.forecast import prepare_training_data

    frame = prepare_training_data(small_world, as_of=None, calendar=QuarterCalendar()).frame
    expected = frame["trend_run_rate_plan"] * frame["seasonal_index_target_q"]
    np.testing.assert_allclose(frame["seasonal_trend_plan"], expected, rtol=1e-6)
    # the small world has a season: the two plans differ somewhere
    assert (frame["seasonal_index_target_q"] != 1.0).any()


def test_a_horizon_the_training_rows_lack_starts_from_the_seasonal_plan():
    # training rows at horizons 1 and 2 only (a short history's first fold): horizons 3 and 4
    # start from the seasonal plan, not from horizon 2's start; without the seasonal plan
    # as a candidate they keep the nearest horizon's (no entry)
    level, y, horizon, time, noise = _levels()
    X = pd.DataFrame(
        {
            "horizon": horizon,
            "plan": level,
            "trend": level * 1.3,
            "seasonal_plan": level * 2.0,
            "noise": noise,
        }
    )
    model = QuantileForecaster(
        n_estimators=30,
        offset_column="plan",
        offset_candidates=("trend", "seasonal_plan"),
        random_state=1,
    ).fit(X, y, time=time, horizon=horizon)
    assert model.starts_ == {1: "plan", 2: "plan", 3: "seasonal_plan", 4: "seasonal_plan"}
    # a horizon-4 row starts at twice the level (its seasonal plan), a horizon-2 row at it
    rows = X.iloc[[0, 0]].assign(horizon=[2, 4])
    start = np.sinh(model.bundle_.offset(rows)) * model.scale
    np.testing.assert_allclose(start, [level[0], 2 * level[0]], rtol=1e-6)
    plain = QuantileForecaster(
        n_estimators=30, offset_column="plan", offset_candidates=("trend",), random_state=1
    ).fit(X.drop(columns="seasonal_plan"), y, time=time, horizon=horizon)
    assert plain.starts_ == {1: "plan", 2: "plan"}


def test_a_short_history_keeps_at_most_half_of_the_trees_move_beyond_the_next_quarter(
    monkeypatch,
) -> None:
    # revenue is twice the start at horizon 2 and the start at horizon 1; a feature says
    # which. The trees learn the doubling and the calibration slice keeps all of it at
    # horizon 2 with four target quarters; with three (less than a year) horizon 2 keeps at
    # most 0.5 of it; horizon 1 (the start is right there) is not capped
    level, _, horizon, time, noise = _levels()
    y = level * np.where(horizon == 2, 2.0, 1.0)
    X = pd.DataFrame({"horizon": horizon, "plan": level, "noise": noise})

    def fit(t: np.ndarray) -> QuantileForecaster:
        return QuantileForecaster(
            n_estimators=60,
            min_child_samples=10,
            offset_column="plan",
            blend_offset=True,
            calibration_slices=1,
            random_state=1,
        ).fit(X, y, time=t, horizon=horizon)

    longer = fit(np.repeat(np.arange(4), len(y) // 4))
    assert longer.bundle_.blend[2] == 1.0
    three = np.repeat(np.arange(3), len(y) // 3)
    short = fit(three)
    assert short.history_quarters_ == 3 and short.bundle_.blend[2] == 0.5
    monkeypatch.setattr("training.forecast.quantile_model.SHORT_HISTORY_KEEP", 1.0)
    uncapped = fit(three)  # the same three quarters without the cap: all of it at horizon 2
    assert uncapped.bundle_.blend[2] == 1.0
    assert short.bundle_.blend[1] == uncapped.bundle_.blend[1]  # horizon 1 as the slice chose
    # horizon 2's P50 is then about the start times e^(0.5 * ln 2) = 1.41, not 2
    p50 = short.predict_quantiles(X, horizon=horizon)["p50"].to_numpy()
    h2 = horizon == 2
    assert np.median(p50[h2] / level[h2]) == pytest.approx(np.sqrt(2.0), rel=0.05)
