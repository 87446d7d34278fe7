"""Ground truth of the synthetic world, and the summary for the closing note.

- ``revenue``: realised revenue per partner and observed quarter (the sum of the
  bookings; 0 while the partner exists without bookings), with the structural
  expectation under the incentive it really got.
- ``incentive_effects``: expected revenue and cost of every partner under every
  option (``none`` and each incentive) for the horizon quarter after the as-of
  date (``horizon`` 1) and the last observed quarters (``horizon`` 0, -1, ...); in a
  world with absolute effects (issue 23) also ``expected_uplift_fixed``, the part of the
  uplift that is money whatever the partner's size.
- ``partners``: latent traits (size, trend, churn, engagement, static effects).
- ``assignments``: every incentive decision, ``none`` included, with its
  ``randomized`` flag (the incentives table only shows the grants).

As the contract judges an incentive on the revenue of its own quarter, so does
the truth: enablement also adds trainings, which lift win rates in later
quarters, and that later effect is not in ``incentive_effects``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.names import NONE
from features.world.deals import NO_DAY, Rows
from features.world.latent import (
    LatentState,
    absolute_effect,
    credit_loss,
    effect,
    expected_cost,
    expected_revenue,
)
from features.world.output import take_strings, to_dates
from features.world.params import WorldParams
from features.world.partners import PartnerDraw


def build_truth(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    bounds: np.ndarray,
    ids: pa.Array,
    bookings: Rows,
) -> dict[str, pd.DataFrame]:
    """All ground-truth frames; see the module docstring."""
    options = np.asarray((NONE, *params.incentive_names), dtype=object)
    return {
        "revenue": _revenue(params, partners, state, bounds, ids, bookings, options),
        "incentive_effects": _effects(params, partners, state, bounds, ids, options),
        "partners": _partners(params, partners, bounds, ids),
        "assignments": _assignments(state, bounds, ids, options),
    }


def _revenue(params, partners, state, bounds, ids, bookings, options) -> pd.DataFrame:
    n, obs = partners.size.size, state.observed
    quarter = np.searchsorted(bounds, bookings["day"], side="right") - 1
    realised = np.bincount(
        bookings["partner"] * obs + quarter, weights=bookings["amount"], minlength=n * obs
    ).reshape(n, obs)
    expected = expected_revenue(params, state, state.multiplier, state.addition)[:, :obs]
    p_idx, q_idx = np.nonzero(partners.joined_day[:, None] < bounds[1 : obs + 1][None, :])
    return pd.DataFrame(
        {
            "partner_id": take_strings(ids, p_idx),
            "quarter_start": to_dates(bounds[q_idx]),
            "revenue": np.round(realised[p_idx, q_idx], 2),
            "expected_revenue": np.round(expected[p_idx, q_idx], 2),
            "incentive": take_strings(pa.array(options.tolist()), state.assigned[p_idx, q_idx]),
        }
    )


def _effects(params, partners, state, bounds, ids, options) -> pd.DataFrame:
    obs = state.observed
    quarters = np.arange(max(obs - params.truth_quarters, 0), obs + 1)
    base = expected_revenue(params, state, np.ones_like(state.demand))[:, quarters]
    revenue = [base]
    fixed = [np.zeros_like(base)]
    cost = [np.zeros_like(base)]
    for k in range(len(params.incentives)):
        momentum = None if state.momentum is None else state.momentum[:, quarters]
        rev_k = base * (1.0 + effect(params, partners, state.age[:, quarters], k, momentum))
        money = absolute_effect(params, state.active[:, quarters], k) * (1 - credit_loss(params))
        revenue.append(rev_k + money)  # money: whatever the partner's size (issue 23)
        fixed.append(money)
        cost.append(np.broadcast_to(expected_cost(params, partners, k)[:, None], base.shape))
    # Partners known at the start of the horizon quarter / existing during a past quarter.
    last_day = np.minimum(bounds[quarters + 1], bounds[obs])
    p_idx, q_pos = np.nonzero(partners.joined_day[:, None] < last_day[None, :])
    k_count = len(options)
    rev = np.stack([r[p_idx, q_pos] for r in revenue], axis=1).ravel()
    cst = np.stack([c[p_idx, q_pos] for c in cost], axis=1).ravel()
    uplift = rev - np.repeat(base[p_idx, q_pos], k_count)
    rows = np.repeat(np.arange(p_idx.size), k_count)
    frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, p_idx[rows]),
            "quarter_start": to_dates(bounds[quarters[q_pos[rows]]]),
            "horizon": (quarters[q_pos[rows]] - obs + 1).astype(np.int64),
            "incentive": take_strings(
                pa.array(options.tolist()), np.tile(np.arange(k_count), p_idx.size)
            ),
            "expected_revenue": np.round(rev, 2),
            "expected_cost": np.round(cst, 2),
            "expected_uplift": np.round(uplift, 2),
        }
    )
    if any(spec.absolute for spec in params.incentives):
        money = np.stack([f[p_idx, q_pos] for f in fixed], axis=1).ravel()
        frame["expected_uplift_fixed"] = np.round(money, 2)
    return frame


def _partners(params, partners, bounds, ids) -> pd.DataFrame:
    n = partners.size.size
    t_all = bounds.size - 1
    churns = partners.churn_q < t_all
    churn_day = np.where(churns, bounds[np.minimum(partners.churn_q, t_all)], NO_DAY)
    segment = (
        np.asarray(params.types, dtype=object)[partners.type_idx]
        + "/"
        + np.asarray(params.tiers, dtype=object)[partners.tier_idx]
        + "/"
        + np.asarray(params.regions, dtype=object)[partners.region_idx]
    )
    frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, np.arange(n)),
            "size": np.round(partners.size, 2),
            "size_z": partners.size_z,
            "trend": partners.trend,
            "ramp_quarters": partners.ramp_tau,
            "churn_quarter": to_dates(churn_day),
            "engagement": partners.engagement,
            "win_skill": partners.skill,
            "initial": partners.join_q < 0,
            "segment": pd.Series(segment, dtype="string"),
        }
    )
    for k, name in enumerate(params.incentive_names):
        frame[f"effect_{name}"] = partners.effects[:, k]
    return frame


def _assignments(state, bounds, ids, options) -> pd.DataFrame:
    eligible = state.active[:, : state.observed] > 0
    p_idx, q_idx = np.nonzero(eligible)
    return pd.DataFrame(
        {
            "partner_id": take_strings(ids, p_idx),
            "quarter_start": to_dates(bounds[q_idx]),
            "incentive": take_strings(pa.array(options.tolist()), state.assigned[p_idx, q_idx]),
            "randomized": state.randomized[p_idx, q_idx],
        }
    )


def best_incentives(effects: pd.DataFrame) -> pd.DataFrame:
    """The option with the highest ``expected_uplift - expected_cost`` per partner and quarter.

    ``none`` has net value 0, so it is best whenever every incentive loses money.
    """
    net = effects["expected_uplift"] - effects["expected_cost"]
    order = effects.assign(net_value=net).sort_values(
        ["partner_id", "quarter_start", "net_value"], ascending=[True, True, False], kind="stable"
    )
    best = order.drop_duplicates(["partner_id", "quarter_start"], keep="first")
    return best[["partner_id", "quarter_start", "horizon", "incentive", "net_value"]].reset_index(
        drop=True
    )
