"""Issue 23: effects on more than one scale (relative, mix, absolute), chosen per incentive.

Hand-made partner-quarters: a third of the partners are dormant (no revenue unless a SPIFF
activates them), a SPIFF adds a fixed amount of money whatever the size, a rebate adds a
share of revenue; a randomized share as the data contract records it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.scoring.policy import best_by_net
from tests.training.test_effect_selection import SMALL as EFFECT_SELECTION_SMALL
from training.incentives import UpliftModel
from training.incentives.effect_scales import reference_amount, scale_weights, select_scales

FEATURES = ["segment", "revenue_mean_4q", "revenue_lag_1", "activity_qty_4q", "dormant", "noise"]
# issue 16's small settings; effects of thousands on partners of tens of thousands are far
# beyond the default hyperprior's "a few percent": a flat one
SMALL = {**EFFECT_SELECTION_SMALL, "effect_prior_scale": None}
SPIFF, SPIFF_COST, REBATE, REBATE_RATE = 5_000.0, 2_000.0, 0.10, 0.03


def activation_frame(n_partners: int = 600, quarters: int = 4, seed: int = 0) -> pd.DataFrame:
    """Dormant partners book 0 unless given the SPIFF (+5,000 in expectation, booked as
    10,000 half the time); the others book size x noise, + 5,000 with the SPIFF, x 1.10 with
    the rebate. Big partners get incentives more often; 30 % of decisions are random."""
    rng = np.random.default_rng(seed)
    size = np.exp(rng.normal(10.5, 1.0, n_partners))
    dormant = rng.random(n_partners) < 0.35
    segment = rng.choice(["a", "b"], n_partners)
    p = np.repeat(np.arange(n_partners), quarters)
    z = np.log(size[p]) - 10.5
    randomized = rng.random(p.size) < 0.3
    treat = rng.random(p.size) < 1 / (1 + np.exp(-(-0.5 + z)))
    pick = np.where(rng.random(p.size) < 0.5, "spiff", "rebate")
    arm = np.where(treat, pick, "none")
    arm = np.where(randomized, rng.choice(["none", "spiff", "rebate"], p.size), arm)
    base = np.where(dormant[p], 0.0, size[p])
    lump = np.where(rng.random(p.size) < 0.5, 2 * SPIFF, 0.0)
    revenue = base * (1 + REBATE * (arm == "rebate")) * np.exp(rng.normal(-0.02, 0.2, p.size))
    revenue = revenue + (arm == "spiff") * lump
    history = np.where(dormant[p], 0.0, size[p])
    return pd.DataFrame(
        {
            "partner_id": pd.array([f"P{i:04d}" for i in p], dtype="string"),
            "segment": pd.Categorical(segment[p], categories=["a", "b"]),
            "revenue_mean_4q": history * np.exp(rng.normal(0, 0.1, p.size)),
            "revenue_lag_1": history * np.exp(rng.normal(0, 0.2, p.size)),
            "activity_qty_4q": rng.poisson(3.0, p.size) + 1.0,  # dormant, not gone
            "dormant": dormant[p].astype(float),
            "noise": rng.normal(size=p.size),
            "incentive": pd.array(arm, dtype="string"),
            "randomized": randomized,
            "revenue": revenue,
            "size": size[p],
        }
    )


def costs_of(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rebate": 500.0 + REBATE_RATE * frame["size"].to_numpy(),
            "spiff": np.full(len(frame), SPIFF_COST),
        }
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[UpliftModel, pd.DataFrame]:
    frame = activation_frame()
    model = UpliftModel(**SMALL, random_state=1).fit(
        frame, feature_columns=FEATURES, costs=costs_of(frame)
    )
    return model, frame


def test_planted_money_effect_is_found_on_the_absolute_scale(fitted) -> None:
    model, _ = fitted
    assert model.scale_["spiff"] in ("absolute", "mix")
    assert model.scale_["rebate"] in ("relative", "mix")
    table = model.scale_selection_["spiff"]
    assert table["chosen"].sum() == 1
    assert set(table["scale"]) == {"relative", "mix", "absolute"}
    chosen = table.set_index("scale")["crossfit_dr_value"]
    assert chosen[model.scale_["spiff"]] > chosen["relative"]


def test_zero_revenue_partners_get_the_spiff_with_its_effect_in_the_interval(fitted) -> None:
    model, _ = fitted
    fresh = activation_frame(n_partners=300, seed=5).drop_duplicates("partner_id")
    dormant = fresh["dormant"].to_numpy() == 1.0
    X = fresh[FEATURES]
    uplift = model.predict_uplift(X)
    low, high = model.predict_interval(X)
    cost = costs_of(fresh)[list(uplift.columns)].to_numpy()
    choice = best_by_net(uplift.to_numpy() - cost)
    spiff = list(uplift.columns).index("spiff")
    # the partners booking nothing get the SPIFF: an effect relative to their base of ~0
    # would be ~0 and never pay its 2,000
    assert (choice[dormant] == spiff).mean() >= 0.9
    # and its planted effect (5,000 whatever the size) is inside their 80 % intervals
    inside = (low["spiff"] <= SPIFF) & (high["spiff"] >= SPIFF)
    assert inside[dormant].mean() >= 0.8
    assert uplift["spiff"][dormant].median() == pytest.approx(SPIFF, rel=0.35)


def test_partners_with_no_sign_of_life_get_no_money_effect(fitted) -> None:
    model, _ = fitted
    fresh = activation_frame(n_partners=100, seed=6).drop_duplicates("partner_id")
    gone = fresh.assign(revenue_mean_4q=0.0, revenue_lag_1=0.0, activity_qty_4q=0.0)
    assert model.scale_alpha_["spiff"] > 0
    g = model.predict_reference(gone[FEATURES])
    base = model.predict_base(gone[FEATURES])
    # no fixed amount for them: only the relative part (of a floored base) is left
    np.testing.assert_allclose(g["spiff"], (1 - model.scale_alpha_["spiff"]) * base)
    assert (model.predict_uplift(fresh[FEATURES])["spiff"] > 1_000).mean() > 0.9


def test_reference_amounts_and_weights_by_hand() -> None:
    base = np.array([100.0, 1_000.0, 10_000.0])
    np.testing.assert_allclose(reference_amount(base, 2_000.0, 0.0), base)
    np.testing.assert_allclose(reference_amount(base, 2_000.0, 1.0), [2_000.0] * 3)
    np.testing.assert_allclose(reference_amount(base, 2_000.0, 0.5), [1_050.0, 1_500.0, 6_000.0])
    # relative: the base itself (the money-weighted ratio estimator); absolute: 1 / base
    np.testing.assert_allclose(scale_weights(base, base, None), base)
    np.testing.assert_allclose(scale_weights(base, np.full(3, 2_000.0), None), 4e6 / base)


def test_select_scales_keeps_relative_unless_another_scale_clearly_pays() -> None:
    rng = np.random.default_rng(0)
    n = 400
    base = np.full(n, 1_000.0)
    groups = np.arange(n)
    cost = np.full((n, 1), 10.0)
    # a pseudo-outcome that pays (+50) only where the "absolute" scale gives
    phi = rng.normal(0.0, 1.0, (n, 1))
    half = np.arange(n) < n // 2
    phi[half, 0] += 50.0

    def held_out_net(pick: tuple[int, ...]) -> np.ndarray:
        if pick[0] == 2:  # absolute: gives where it pays
            return np.where(half, 100.0, -100.0)[:, None]
        return np.full((n, 1), 100.0 if pick[0] == 1 else -100.0)  # mix: everyone

    chosen, tables = select_scales(
        held_out_net, phi, base, 1_000.0, cost, groups, names=("relative", "mix", "absolute")
    )
    assert chosen == [2]
    assert tables[0].set_index("scale").loc["absolute", "rows_given"] == n // 2
    # where no scale is distinguishable from relative (all give nothing), relative stays
    chosen, _ = select_scales(
        lambda pick: np.full((n, 1), -1.0),
        phi,
        base,
        1_000.0,
        cost,
        groups,
        names=("relative", "mix", "absolute"),
    )
    assert chosen == [0]


def test_select_scales_ignores_a_scale_that_only_reorders_the_competition() -> None:
    """Two free incentives (no costs) given to every row on every scale: on their own
    decisions against `none` every scale is the same, so the data say nothing of their scale,
    even where a non-relative scale moves the better incentive ahead on half the rows (the
    competition alone would take it: +40 on 200 rows, se about 1.4)."""
    rng = np.random.default_rng(1)
    n = 400
    base = np.full(n, 1_000.0)
    groups = np.arange(n)
    cost = np.zeros((n, 2))
    phi = np.column_stack([rng.normal(50.0, 1.0, n), rng.normal(10.0, 1.0, n)])
    half = np.arange(n) < n // 2

    def held_out_net(pick: tuple[int, ...]) -> np.ndarray:
        # on the relative scale incentive 1 leads everywhere; incentive 0 on `absolute`
        # leads on the first half; every incentive's own net is positive on every row
        first = np.where(half, 30.0, 5.0) if pick[0] == 2 else np.full(n, 5.0)
        return np.column_stack([first, np.full(n, 20.0)])

    names = ("relative", "mix", "absolute")
    chosen, _ = select_scales(held_out_net, phi, base, 1_000.0, cost, groups, names=names)
    assert chosen == [0, 0]
    # without the gate the competition picks `absolute` for incentive 0 (+40 x 200 rows)
    chosen, tables = select_scales(
        held_out_net, phi, base, 1_000.0, cost, groups, names=names, own_gate=False
    )
    assert chosen == [2, 0]
    table = tables[0].set_index("scale")
    gain = table.loc["absolute", "crossfit_dr_value"] - table.loc["relative", "crossfit_dr_value"]
    assert gain == pytest.approx(phi[half, 0].sum() - phi[half, 1].sum())
