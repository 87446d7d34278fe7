"""UpliftModel: recovery of a planted effect under confounding, errors, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data.dataset import Dataset, empty_frame
from features.data.reader import coerce_table
from features.frames import build_features, build_recommender_frame, fit_feature_spec
from features.world import simulate_world
from training.incentives import (
    IncentiveRecommender,
    NaiveUpliftModel,
    UpliftModel,
    check_incentive_frame,
)

FEATURES = ["segment", "revenue_mean_4q", "revenue_lag_1", "noise"]
SMALL = {"n_folds": 3, "n_estimators": 40, "effect_trees": 20, "segment_columns": ("segment",)}


def confounded_frame(n_partners: int = 400, quarters: int = 4, seed: int = 0) -> pd.DataFrame:
    """Partners of two segments and lognormal size; big partners get the incentive far more
    often (confounding). True relative effect of ``promo``: +30 % in segment ``a``, -10 % in
    ``b``; ``other`` has no effect. Revenue = size * (1 + effect) * lognormal noise.
    """
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(10, 1.2, n_partners))
    segment = rng.choice(["a", "b"], n_partners)
    p = np.repeat(np.arange(n_partners), quarters)
    z = (np.log(size[p]) - 10) / 1.2
    treat = rng.random(p.size) < 1 / (1 + np.exp(-(-1.0 + 1.5 * z)))
    arm = np.where(treat, np.where(rng.random(p.size) < 0.7, "promo", "other"), "none")
    true_rel = np.where(segment[p] == "a", 0.3, -0.1)
    effect = np.where(arm == "promo", true_rel, 0.0)
    revenue = size[p] * (1 + effect) * np.exp(rng.normal(-0.02, 0.2, p.size))
    return pd.DataFrame(
        {
            "partner_id": pd.array([f"P{i:04d}" for i in p], dtype="string"),
            "segment": pd.Categorical(segment[p], categories=["a", "b"]),
            "revenue_mean_4q": size[p] * np.exp(rng.normal(0, 0.1, p.size)),
            "revenue_lag_1": size[p] * np.exp(rng.normal(0, 0.2, p.size)),
            "noise": rng.normal(size=p.size),
            "incentive": pd.array(arm, dtype="string"),
            "randomized": False,
            "revenue": revenue,
            "true_uplift_promo": size[p] * true_rel,
        }
    )


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return confounded_frame()


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> UpliftModel:
    return UpliftModel(**SMALL, random_state=1).fit(frame, feature_columns=FEATURES)


def test_recovers_planted_heterogeneous_effect_better_than_naive(frame, fitted):
    fresh = confounded_frame(n_partners=200, seed=9)
    truth = fresh["true_uplift_promo"].to_numpy()
    dr = fitted.predict_uplift(fresh[FEATURES])["promo"].to_numpy()
    naive = NaiveUpliftModel(random_state=1).fit(frame, feature_columns=FEATURES)
    nv = naive.predict_uplift(fresh[FEATURES])["promo"].to_numpy()
    err_dr = np.sqrt(np.mean((dr - truth) ** 2))
    err_naive = np.sqrt(np.mean((nv - truth) ** 2))
    assert err_dr < 0.7 * err_naive
    rel = fitted.predict_relative(fresh[FEATURES])["promo"]
    by_segment = rel.groupby(fresh["segment"].to_numpy()).mean()
    assert by_segment["a"] == pytest.approx(0.3, abs=0.1)
    assert by_segment["b"] == pytest.approx(-0.1, abs=0.1)
    assert by_segment["a"] - by_segment["b"] > 0.25
    assert fitted.effect_model_["promo"] != "constant"  # the heterogeneity is clear enough
    assert abs(fitted.effect_constant_["other"]) < 0.05
    assert 0 < fitted.effect_se_["promo"] < 0.1


def test_out_of_fold_predictions_and_overlap_are_exposed(frame, fitted):
    assert list(fitted.incentives_) == ["other", "promo"]
    assert len(fitted.oof_uplift_) == len(frame)
    assert set(fitted.oof_uplift_.columns) >= {"other", "promo", "partner_id", "row"}
    assert fitted.overlap_["clipped_rows_none"] >= 0
    assert 0 <= fitted.overlap_["clipped_share_treated"] <= 1


def test_same_seed_same_predictions(frame, fitted):
    again = UpliftModel(**SMALL, random_state=1).fit(frame, feature_columns=FEATURES)
    X = frame[FEATURES].head(50)
    pd.testing.assert_frame_equal(fitted.predict_uplift(X), again.predict_uplift(X))


def test_rare_incentive_is_dropped(frame):
    rare = frame.copy()
    rare.loc[rare.index[:3], "incentive"] = "brand_new"
    model = UpliftModel(**SMALL, min_treated=20, random_state=1).fit(rare, feature_columns=FEATURES)
    assert "brand_new" not in model.incentives_
    assert "brand_new" not in model.predict_uplift(rare[FEATURES].head(5)).columns


def test_frame_without_incentives_names_the_table(frame):
    bare = frame.assign(incentive=pd.array(["none"] * len(frame), dtype="string"))
    with pytest.raises(ValueError, match="incentives table"):
        check_incentive_frame(bare)
    with pytest.raises(ValueError, match="incentives table"):
        UpliftModel(**SMALL).fit(bare, feature_columns=FEATURES)


def test_dataset_without_incentives_table_gives_clear_error():
    world = simulate_world(partners=40, quarters=8, seed=5)
    tables = {t: coerce_table(t, world.tables[t]).frame for t in ("partners", "bookings")}
    ds = Dataset(**tables, incentives=empty_frame("incentives"))
    spec = fit_feature_spec(ds, as_of=world.as_of, calendar=QuarterCalendar())
    rec_frame = build_recommender_frame(ds, spec=spec, data_end=world.as_of)
    with pytest.raises(ValueError, match="incentives table"):
        UpliftModel(**SMALL).fit(rec_frame, feature_columns=list(spec.partner_feature_columns))


@pytest.fixture(scope="module")
def tiny_world():
    world = simulate_world(partners=80, quarters=8, seed=11)
    tables = {t: coerce_table(t, world.tables[t]).frame for t in world.tables}
    ds = Dataset(**tables, present=frozenset(tables))
    spec = fit_feature_spec(ds, as_of=world.as_of, calendar=QuarterCalendar())
    rec_frame = build_recommender_frame(ds, spec=spec, data_end=world.as_of)
    features = build_features(ds, as_of=world.as_of, spec=spec)
    return rec_frame, features, list(spec.partner_feature_columns)


def test_recommender_end_to_end_budget_determinism_and_metrics(tiny_world):
    rec_frame, features, cols = tiny_world
    params = {
        "uplift_params": {**SMALL, "min_treated": 5, "min_randomized": 3},
        "cost_params": {"n_estimators": 20},
    }
    model = IncentiveRecommender(**params, random_state=3).fit(rec_frame, feature_columns=cols)
    free = model.recommend(features)
    assert len(free) == len(features)
    assert set(free["incentive"]) <= {"none", *model.incentives_}
    budget = 0.3 * float(free["cost"].sum())
    capped = model.recommend(features, budget=budget)
    assert capped["cost"].sum() <= budget
    again = IncentiveRecommender(**params, random_state=3).fit(rec_frame, feature_columns=cols)
    pd.testing.assert_frame_equal(again.recommend(features, budget=budget), capped)
    overridden = model.recommend(features, cost_overrides={i: 0.0 for i in model.incentives_})
    assert (overridden["cost"] == 0).all()
    metrics, frames = model.evaluation(rec_frame)
    assert {"dr_value_model", "dr_value_none", "dr_value_most_common"} <= set(metrics)
    assert metrics["dr_value_none"] == 0.0
    assert all(metrics[f"relative_effect_se_{i}"] > 0 for i in model.incentives_)
    assert set(frames) == {
        "randomized_contrasts",
        "qini_curves",
        "uplift_by_segment",
        "policy_comparison",
        "policy_selection",
        "effect_selection",
        "effect_scales",
    }
    # issue 23: every incentive's scale evidence, one row per scale, one chosen
    scales = frames["effect_scales"]
    assert set(scales["incentive"]) == set(model.incentives_)
    assert (scales.groupby("incentive")["chosen"].sum() == 1).all()
    assert all(f"effect_scale_value_{i}_absolute" in metrics for i in model.incentives_)
    assert {"heldout_reported_net", "heldout_dr_net", "heldout_net_calibration"} <= set(metrics)
    # session 10: the outcome model's evidence for the objective it fitted (least squares)
    assert model.uplift_.outcome_objective_ == "l2"
    assert metrics["outcome_pseudo_variance_l2"] > 0 and metrics["outcome_loss_l2"] > 0
    # the DR value of a policy fixed in advance: nothing given is 0 exactly; "everyone gets
    # the most common incentive" (an effect so large it always pays) is the evaluation's
    # baseline of that name, summed over the training rows
    assert model.policy_value(rec_frame, {}) == (0.0, 0.0)
    common = rec_frame.loc[rec_frame["incentive"] != "none", "incentive"].value_counts().index[0]
    value, se = model.policy_value(rec_frame, {str(common): 1e6})
    rows = len(model.uplift_.oof_uplift_)
    assert value == pytest.approx(metrics["dr_value_most_common"] * rows, rel=1e-9)
    assert se > 0
    # the data's choice of policy, out of fold: none, everyone gets the usual, the model
    selection = frames["policy_selection"]
    assert list(selection["policy"]) == ["none", f"everyone gets {common}", "model"]
    assert selection["chosen"].sum() == 1
    assert metrics["policy_gated"] == float(selection["chosen"].iloc[0])
    assert metrics["crossfit_policy_value_everyone"] == pytest.approx(value, rel=1e-9)
    # the world's randomized none rows are the control arm of every randomized comparison
    assert rec_frame.loc[rec_frame["incentive"] == "none", "randomized"].any()
    assert metrics["randomized_rows_none"] == 3 and len(model.uplift_.randomized_) == 5
    for name in model.uplift_.randomized_:
        assert metrics[f"randomized_effect_se_{name}"] > 0
        assert f"posterior_effect_{name}" in metrics
    chosen = frames["effect_selection"].query("chosen")
    assert sorted(chosen["incentive"]) == sorted(model.incentives_)
    assert (free["expected_net_low"] <= free["expected_net"] + 1e-9).all()
    assert (free["expected_net"] <= free["expected_net_high"] + 1e-9).all()
