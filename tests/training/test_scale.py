"""What keeps the recommender's training cost per partner flat (issue 20): no step that reads
every partner once per partner."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tests.training.test_train import store as training_store
from tests.training.test_uplift import FEATURES, SMALL, confounded_frame
from training.forecast.quantile_model import QuantileForecaster
from training.incentives.effect_models import SegmentEffect, segment_design
from training.incentives.uplift import UpliftModel, partner_folds
from training.jobs import forecaster_run, pipeline, train_forecaster
from training.jobs.recommender_run import growth_outlook


class CountingForecaster:
    """A forecaster stub: P50 next quarter = 100 x the partner's number; counts how often its
    ``partner_ids`` (a property that reads the whole snapshot) is read."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.reads = 0

    @property
    def partner_ids(self) -> pd.Index:
        self.reads += 1
        return pd.Index(self.ids)

    def forecast(self, ids: list[str], horizon: int) -> pd.DataFrame:
        assert horizon == 1
        return pd.DataFrame({"partner_id": ids, "p50": [100.0 * int(p[1:]) for p in ids]})


def test_growth_outlook_reads_the_forecasters_partners_once() -> None:
    # P3 joined after the forecaster's training date: no forecast, no growth
    features = pd.DataFrame(
        {
            "partner_id": pd.array(["P1", "P2", "P3"], dtype="string"),
            "revenue_lag_1": [40.0, 500.0, 7.0],
        }
    )
    forecaster = CountingForecaster(["P1", "P2"])
    growth = growth_outlook(forecaster, features)  # type: ignore[arg-type]
    assert growth.to_dict() == {"P1": 60.0, "P2": -300.0}
    assert forecaster.reads == 1


def test_segment_design_reads_values_as_text_like_a_row_by_row_conversion() -> None:
    # categorical with a missing value and an unused level, plain strings with a missing
    # one, and numbers: each distinct value is converted once, rows get its one-hot row
    E = pd.DataFrame(
        {
            "tier": pd.Categorical(
                ["gold", None, "silver", "gold"], categories=["gold", "silver", "x"]
            ),
            "region": pd.array(["EU", "US", pd.NA, "EU"], dtype="string"),
            "size_band": [1.0, np.nan, 2.0, 2.0],
            "tenure_quarters": [1.0, 9.0, np.nan, 5.0],
        }
    )
    levels = {"tier": ["", "gold", "silver"], "region": ["EU", "US"], "size_band": ["1.0", "2.0"]}
    expected = np.array(
        [
            # tier "", gold, silver | region EU, US | size 1.0, 2.0 | new
            [0, 1, 0, 1, 0, 1, 0, 1],
            [1, 0, 0, 0, 1, 0, 0, 0],
            [0, 0, 1, 0, 0, 0, 1, 1],
            [0, 1, 0, 1, 0, 0, 1, 0],
        ],
        dtype=np.float64,
    )
    np.testing.assert_array_equal(segment_design(E, levels), expected)
    fitted = SegmentEffect(kappa=0.1, columns=("tier", "region", "size_band")).fit(
        E, np.array([0.1, 0.2, 0.3, 0.4]), np.ones(4), np.array([0, 1, 2, 3])
    )
    assert fitted.levels_ == {
        "tier": ["gold", "silver"],
        "region": ["EU", "US"],
        "size_band": ["1.0", "2.0"],
    }


def test_partner_folds_keep_partners_together_and_cover_every_row_once() -> None:
    groups = np.array([f"P{i % 37:03d}" for i in range(400)], dtype=object)
    folds = partner_folds(groups, 5, random_state=3)
    assert len(folds) == 5
    np.testing.assert_array_equal(np.sort(np.concatenate(folds)), np.arange(400))
    owner = {g: k for k, te in enumerate(folds) for g in groups[te]}
    assert all(owner[g] == k for k, te in enumerate(folds) for g in groups[te])
    # the same seed gives the same folds (the cross-fitting is reproducible)
    again = partner_folds(groups, 5, random_state=3)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))


def test_nuisance_models_train_on_whole_partners_within_the_budget() -> None:
    frame = confounded_frame(n_partners=400, quarters=4)  # 1,600 rows; folds train on ~1,070
    model = UpliftModel(**SMALL, random_state=1, nuisance_max_rows=500, nuisance_min_partners=0)
    model.groups_ = pd.factorize(frame["partner_id"])[0]
    rows = np.arange(len(frame))
    kept = model._nuisance_rows(rows)
    partners = frame["partner_id"].to_numpy()
    assert 400 < len(kept) < 600  # about the budget
    taken = set(partners[kept])
    assert len(kept) == frame["partner_id"].isin(taken).sum()  # every row of a taken partner
    np.testing.assert_array_equal(model._nuisance_rows(rows), kept)  # seeded
    np.testing.assert_array_equal(model._nuisance_rows(rows[:400]), rows[:400])  # under it
    # a floor of partners wins over the rows: 300 of 400 partners (1,200 rows), not ~125
    model.nuisance_min_partners = 300
    floor = model._nuisance_rows(rows)
    assert 250 < len(set(partners[floor])) < 350
    model.nuisance_min_partners = 400  # as many as there are: no sample
    np.testing.assert_array_equal(model._nuisance_rows(rows), rows)
    # the fit still scores every row out of fold (what the budget costs in accuracy is
    # measured on large worlds: docs/operator.md; on 500 rows it is a lot)
    budgeted = UpliftModel(
        **SMALL, random_state=1, nuisance_max_rows=500, nuisance_min_partners=0
    ).fit(frame, feature_columns=FEATURES)
    assert len(budgeted.oof_uplift_) == len(frame)
    assert np.isfinite(budgeted.oof_uplift_["promo"]).all()


def test_forecaster_sample_keeps_the_money_and_weights_the_rest() -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    size = np.where(np.arange(n) < 500, 1e6 - np.arange(n), rng.gamma(1.0, 1000.0, n))  # 500 big
    X = pd.DataFrame({"sales_ops_estimate": size, "horizon": 1})
    y = size * rng.lognormal(0.0, 0.3, n)
    model = QuantileForecaster(offset_column="sales_ops_estimate", sample_rows=2_000)
    Xs, ys, _, hs, w = model._sampled(X, y, None, np.ones(n), None)
    assert 1_800 < len(Xs) < 2_200
    assert (Xs.index[:500] == np.arange(500)).all() and (w[:500] == 1.0).all()  # big: all
    # the others at one over their rate: the weighted money matches the whole (within 2 %)
    assert np.sum(w * ys) == pytest.approx(y.sum(), rel=0.02)
    assert w.sum() == pytest.approx(n, rel=0.03)
    again = model._sampled(X, y, None, np.ones(n), None)[0]
    assert again.index.equals(Xs.index)  # seeded
    fitted = QuantileForecaster(
        offset_column="sales_ops_estimate", sample_rows=2_000, conformal=False, n_estimators=5
    ).fit(X, y)
    assert set(fitted.bundle_.boosters) == {0.1, 0.5, 0.9}


store = training_store  # the MLflow store fixture of the training tests


def test_settings_budgets_reach_the_models(
    store, small_world, small_world_dir, fast_config, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(forecaster_run, "COVERAGE_RANGE", (0.0, 1.0))  # a small world
    # the forecaster: 120 partners x 12 quarters leave ~900 rows after max_rows; 300 samples
    settings = store.model_copy(update={"forecast_sample_rows": 300})
    with caplog.at_level(logging.INFO, logger="training.forecast.quantile_model"):
        train_forecaster(
            small_world,
            data_path=small_world_dir,
            as_of=None,
            settings=settings,
            config=fast_config,
        )
    assert "money-stratified sample" in caplog.text
    # the recommender: train_all hands the nuisance budget to the uplift model, 0 = none
    seen = []
    stub = SimpleNamespace(data=None, forecaster=None, experiment_id="0")
    monkeypatch.setattr(pipeline, "train_forecaster", lambda *a, **k: stub)
    monkeypatch.setattr(pipeline, "configure_tracking", lambda settings: None)
    monkeypatch.setattr(pipeline, "record_not_trained", lambda *a: None)
    monkeypatch.setattr(
        pipeline, "train_recommender", lambda *a, **k: seen.append(k["params"]) or None
    )
    for value, expected in ((None, None), (0, {"uplift_params": {"nuisance_max_rows": None}})):
        pipeline.train_all(
            small_world,
            data_path=small_world_dir,
            as_of=None,
            settings=store.model_copy(update={"nuisance_max_rows": value}),
        )
        assert seen[-1] == expected
