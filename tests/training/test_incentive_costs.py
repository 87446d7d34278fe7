"""IncentiveCostModel: learned size-dependent costs, the median fallback, overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.incentives import IncentiveCostModel

FEATURES = ["partner_type", "revenue_mean_4q"]


def priced_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """``rebate`` costs 5 % of size, ``mdf`` a fixed 4000 (x1.6 for distributors); ``rare``
    was given 3 times at 100, 200, 900; the rest got nothing."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(10, 1.0, n))
    ptype = rng.choice(["reseller", "distributor"], n)
    inc = rng.choice(["rebate", "mdf", "none"], n)
    inc[:3] = "rare"
    cost = np.where(inc == "rebate", 0.05 * size, 4000.0 * np.where(ptype == "distributor", 1.6, 1))
    cost = np.where(inc == "none", 0.0, cost * np.exp(rng.normal(0, 0.05, n)))
    cost[:3] = [100.0, 200.0, 900.0]
    return pd.DataFrame(
        {
            "partner_type": pd.Categorical(ptype),
            "revenue_mean_4q": size,
            "incentive": pd.array(inc, dtype="string"),
            "n_incentives": (inc != "none").astype(int),
            "cost": cost,
        }
    )


@pytest.fixture(scope="module")
def model() -> IncentiveCostModel:
    return IncentiveCostModel(n_estimators=150, random_state=0).fit(
        priced_frame(), feature_columns=FEATURES
    )


def test_learns_size_and_type_dependent_costs(model):
    X = pd.DataFrame(
        {
            "partner_type": pd.Categorical(["reseller", "distributor", "reseller"]),
            "revenue_mean_4q": [20_000.0, 20_000.0, 60_000.0],
        }
    )
    costs = model.predict_costs(X)
    assert list(costs.columns) == ["mdf", "rare", "rebate"]
    np.testing.assert_allclose(costs["rebate"], [1_000.0, 1_000.0, 3_000.0], rtol=0.2)
    np.testing.assert_allclose(costs["mdf"], [4_000.0, 6_400.0, 4_000.0], rtol=0.15)
    assert model.modelled_ == ["mdf", "rebate"]
    np.testing.assert_allclose(costs["rare"], 200.0)  # the median of 100, 200, 900


def test_overrides_replace_learned_costs_and_add_new_names(model):
    X = priced_frame(n=5, seed=1)[FEATURES]
    costs = model.predict_costs(X, overrides={"rebate": 1234.5, "webinar": 0.0})
    assert (costs["rebate"] == 1234.5).all()
    assert (costs["webinar"] == 0.0).all()
    assert (costs["mdf"] > 0).all()


def test_negative_override_is_rejected(model):
    with pytest.raises(ValueError, match="rebate"):
        model.predict_costs(priced_frame(n=5)[FEATURES], overrides={"rebate": -1.0})
