"""Issue 23, session 10: a non-negative outcome model for the AIPW pseudo-outcomes.

Hand-made partner-quarters where most small partners book nothing in a quarter: the
expected revenue is known per group, the least-squares fit may go below 0 on such rows, a
Tweedie log-link cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.incentives import UpliftModel

FEATURES = ["revenue_mean_4q", "revenue_lag_1", "noise"]


def sparse_frame(n_partners: int = 600, quarters: int = 4, seed: int = 0) -> pd.DataFrame:
    """Half the partners dormant (a quarter books 20,000 with probability 0.1, else 0:
    expected 2,000), half active (lognormal around 100,000: expected 100,000); a promo
    adds 5,000 to every partner's expected quarter."""
    rng = np.random.default_rng(seed)
    active = rng.random(n_partners) < 0.5
    p = np.repeat(np.arange(n_partners), quarters)
    promo = rng.random(p.size) < 0.3
    dormant = np.where(rng.random(p.size) < 0.1 + 0.25 * promo, 20_000.0, 0.0)
    busy = 100_000.0 * np.exp(rng.normal(-0.02, 0.2, p.size)) + 5_000.0 * promo
    revenue = np.where(active[p], busy, dormant)
    level = np.where(active[p], 100_000.0, 2_000.0)
    return pd.DataFrame(
        {
            "partner_id": pd.array([f"P{i:04d}" for i in p], dtype="string"),
            "revenue_mean_4q": level * np.exp(rng.normal(0, 0.05, p.size)),
            # last quarter: an independent draw of the same partner's quarter
            "revenue_lag_1": np.where(
                active[p],
                100_000.0 * np.exp(rng.normal(-0.02, 0.2, p.size)),
                np.where(rng.random(p.size) < 0.1, 20_000.0, 0.0),
            ),
            "noise": rng.normal(size=p.size),
            "incentive": pd.array(np.where(promo, "promo", "none"), dtype="string"),
            "randomized": False,
            "revenue": revenue,
            "active": active[p],
        }
    )


def fitted(objective: str, frame: pd.DataFrame) -> UpliftModel:
    return UpliftModel(
        n_folds=3, n_estimators=60, effect_trees=20, random_state=1, outcome_objective=objective
    ).fit(frame, feature_columns=FEATURES)


def test_tweedie_outcome_model_is_non_negative_and_recovers_the_planted_means():
    frame = sparse_frame()
    model = fitted("tweedie", frame)
    assert model.outcome_objective_ == "tweedie"
    mu = model.outcome_oof_.to_numpy()  # out of fold, every option
    assert (mu >= 0).all() and model.outcome_negative_share_ == 0.0
    dormant = ~frame["active"].to_numpy()
    none = model.outcome_oof_["none"].to_numpy()
    # planted: 2,000 for a dormant partner's quarter without an incentive, 100,000 active
    assert none[dormant].mean() == pytest.approx(2_000, rel=0.25)
    assert none[~dormant].mean() == pytest.approx(100_000, rel=0.05)
    # the final model too, on rows it never saw
    fresh = sparse_frame(seed=5)
    assert (model.predict_base(fresh[FEATURES]) >= 0).all()
    # the promo's money effect (+5,000 everywhere) from the AIPW pseudo-outcomes
    assert model.pseudo_outcome_["promo"].mean() == pytest.approx(5_000, abs=2_500)


def test_auto_keeps_the_outcome_model_with_the_quieter_pseudo_outcomes(monkeypatch):
    """``auto`` fits least squares and Tweedie and keeps the one whose pseudo-outcomes'
    partner-clustered variance (summed over incentives) is smaller: here a planted outcome
    model that is exact against one that is off by +/-50,000 at random."""
    frame = sparse_frame(n_partners=300)
    crossfit = UpliftModel._crossfit_nuisances
    rng = np.random.default_rng(0)

    def planted(self, X, t, y):
        e, mus = crossfit(self, X, t, y)
        exact = np.stack([y, y], axis=1)  # the observed quarter under both options
        mus["l2"] = exact + rng.normal(0, 50_000, exact.shape)
        mus["tweedie"] = exact
        return e, mus

    monkeypatch.setattr(UpliftModel, "_crossfit_nuisances", planted)
    model = fitted("auto", frame)
    assert model.outcome_objective_ == "tweedie"
    table = model.outcome_selection_
    assert table["tweedie"]["pseudo_outcome_variance"] < table["l2"]["pseudo_outcome_variance"]
    assert model.outcome_oof_.to_numpy() == pytest.approx(
        np.stack([frame["revenue"], frame["revenue"]], axis=1)
    )


def test_an_unknown_outcome_objective_is_refused():
    with pytest.raises(ValueError, match="outcome_objective"):
        fitted("gamma", sparse_frame(n_partners=100))


def test_fallback_takes_the_log_link_row_where_least_squares_goes_below_zero(monkeypatch):
    """``fallback``: least squares everywhere it predicts a possible quarter; on a row where
    any option's least-squares prediction is below 0, every option from the Tweedie model
    (so the option's difference comes from one model)."""
    frame = sparse_frame(n_partners=200)
    crossfit = UpliftModel._crossfit_nuisances

    def planted(self, X, t, y):
        e, _ = crossfit(self, X, t, y)
        n = len(y)
        l2 = np.tile([10_000.0, 12_000.0], (n, 1))
        l2[:30, 1] = -5_000.0  # 30 rows: the promo's prediction below 0
        l2[30:40, 0] = -1.0  # 10 rows: none's, barely
        return e, {"l2": l2, "tweedie": np.tile([3_000.0, 8_000.0], (n, 1))}

    monkeypatch.setattr(UpliftModel, "_crossfit_nuisances", planted)
    model = fitted("fallback", frame)
    assert model.outcome_objective_ == "fallback"
    assert model.outcome_fallback_share_ == pytest.approx(40 / len(frame))
    mu = model.outcome_oof_.to_numpy()
    assert (mu[:40] == [3_000.0, 8_000.0]).all() and (mu[40:] == [10_000.0, 12_000.0]).all()
    assert set(model.outcome_selection_) == {"l2", "tweedie", "fallback"}
    # the final model is the least-squares one (the base it predicts is floored anyway)
    assert model.outcome_.get_params()["objective"] is None
