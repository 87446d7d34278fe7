"""The quarterly latent state of every partner: demand, engagement, win rate, incentives.

Everything is an (N, T) array over partners and simulated quarters. T runs a few
quarters past the last observed one so that the pipeline open at the as-of date
already exists and the horizon quarter has a well-defined expected revenue.

Expected revenue of partner p in quarter t under incentive k is
``demand * (run_rate_share + (1 - run_rate_share) * win_rate / reference_win_rate)
* (1 + effect_k) + absolute_k) * (1 - credit_loss)``: run-rate revenue plus the pipeline
(sized from demand) times the win rate. The incentive multiplies both the run-rate and
the win probability, so its effect is exact in expectation; its ``absolute`` part (money,
issue 23) books as an extra lump. A dormant partner-quarter (``dormant_share``) has no
demand: only an absolute effect gives it revenue.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from features.world.params import WorldParams
from features.world.partners import PartnerDraw

NEW_PARTNER_QUARTERS = 4
"""A partner counts as new (for the enablement effect) in its first quarters."""
TENURE_CAP_YEARS = 5.0
"""An incentive's ``tenure_slope`` stops growing after this many years since joining."""


@dataclass(frozen=True)
class LatentState:
    """(N, T) arrays of the partners' quarterly state; see the module docstring."""

    active: np.ndarray  # share of the quarter the partner exists and has not churned out
    demand: np.ndarray  # expected revenue scale before win rates and incentives
    win_rate: np.ndarray  # base win probability of deals closing in the quarter
    age: np.ndarray  # quarters since the join quarter
    assigned: np.ndarray  # int: 0 = none, j + 1 = params.incentives[j]
    randomized: np.ndarray  # bool: the decision was made at random
    multiplier: np.ndarray  # 1 + effect of the assigned incentive
    trainings: np.ndarray  # int counts drawn in the quarter
    certifications: np.ndarray  # int counts drawn in the quarter
    observed: int  # quarters 0 .. observed - 1 are before the as-of date
    momentum: np.ndarray | None = None  # demand shock in stationary sd units (pipeline signal)
    addition: np.ndarray | None = None  # money the assigned incentive adds (absolute effects)


def credit_loss(params: WorldParams) -> float:
    """Expected share of revenue given back by credit notes (mean credited share ~ 0.55)."""
    return params.credit_note_share * 0.55


def effect(
    params: WorldParams,
    partners: PartnerDraw,
    age: np.ndarray,
    k: int,
    momentum: np.ndarray | None = None,
) -> np.ndarray:
    """Relative effect of incentive ``k`` (index into params.incentives) at the given ages.

    ``momentum`` (same shape as ``age``) is the demand shock of those quarters in
    standard deviations, needed only when the incentive has a ``pipeline_slope``.
    """
    spec = params.incentives[k]
    eff = partners.effects[:, k][:, None] + spec.new_partner * (age < NEW_PARTNER_QUARTERS)
    if spec.tenure_slope:  # each term only when set: the default world stays bit-identical
        eff = eff + spec.tenure_slope * np.clip(age / 4.0, 0.0, TENURE_CAP_YEARS)
    if spec.pipeline_slope:
        if momentum is None:
            raise ValueError(f"incentive {spec.name!r} has a pipeline_slope: pass momentum")
        eff = eff + spec.pipeline_slope * momentum
    return np.clip(eff, *params.effect_bounds)


def absolute_effect(params: WorldParams, active: np.ndarray, k: int) -> np.ndarray:
    """Money incentive ``k`` adds to the expected revenue (before credit notes), given the
    share of each quarter the partner is active (``active``, any shape)."""
    return params.incentives[k].absolute * active


def expected_cost(params: WorldParams, partners: PartnerDraw, k: int) -> np.ndarray:
    """Expected cost of incentive ``k`` for each partner (depends on size and type)."""
    spec = params.incentives[k]
    type_cost = np.array([params.type_cost.get(t, 1.0) for t in params.types])
    return spec.fixed_cost * type_cost[partners.type_idx] + spec.cost_rate * partners.size / 4.0


def expected_revenue(
    params: WorldParams,
    state: LatentState,
    multiplier: np.ndarray,
    addition: np.ndarray | None = None,
) -> np.ndarray:
    """Structural mean revenue per partner-quarter for the given incentive multiplier and
    absolute addition (money, default none)."""
    won = (1.0 - params.run_rate_share) * state.win_rate / params.reference_win_rate
    revenue = state.demand * (params.run_rate_share + won) * multiplier
    if addition is not None:
        revenue = revenue + addition
    return revenue * (1 - credit_loss(params))


def simulate_state(
    params: WorldParams,
    partners: PartnerDraw,
    rng: np.random.Generator,
    bounds: np.ndarray,
    season_q: np.ndarray,
    observed: int,
) -> LatentState:
    """Simulate the (N, T) state for quarters with start days ``bounds[:-1]``.

    ``season_q`` is the calendar quarter (0-3) of each simulated quarter; incentives
    are only assigned in the ``observed`` quarters (the future has none yet).
    """
    n, t_all = partners.size.size, bounds.size - 1
    t = np.arange(t_all)[None, :]
    starts, ends = bounds[:-1][None, :], bounds[1:][None, :]
    joined = partners.joined_day[:, None]
    exists = np.clip((ends - np.maximum(joined, starts)) / (ends - starts), 0.0, 1.0)

    age = t - partners.join_q[:, None]
    ramp = np.where(age >= 0, 1.0 - np.exp(-(age + 0.5) / partners.ramp_tau[:, None]), 0.0)
    since_churn = t - partners.churn_q[:, None]
    churn = np.where(
        since_churn < 0,
        1.0,
        np.where(since_churn < params.churn_fade_quarters, 0.5 ** (since_churn + 1), 0.0),
    )
    active = exists * churn
    trend = np.exp(partners.trend[:, None] * (t - np.maximum(partners.join_q, 0)[:, None]))
    season_table = np.array([params.seasonality[r] for r in params.regions])
    season_table = season_table / season_table.mean(axis=1, keepdims=True)
    season = season_table[partners.region_idx][:, season_q]

    shocks = np.empty((n, t_all))
    stationary_sd = params.ar_sigma / np.sqrt(1.0 - params.ar_rho**2)
    level = rng.normal(0.0, stationary_sd, n)
    for q in range(t_all):
        level = params.ar_rho * level + rng.normal(0.0, params.ar_sigma, n)
        shocks[:, q] = level
    noise = np.exp(shocks - stationary_sd**2 / 2)
    momentum = shocks / stationary_sd
    demand = partners.size[:, None] / 4.0 * active * ramp * trend * season * noise
    if params.dormant_share > 0:  # drawn only when set: other worlds stay bit-identical
        demand = demand * ~_dormant(params, partners, rng, t_all)

    assigned, randomized = _assign(params, partners, rng, active, age, observed)
    multiplier = _multiplier(params, partners, assigned, age, momentum)
    addition = _addition(params, assigned, active)

    win_rate, trainings, certifications = _engagement(
        params, partners, rng, active, assigned, partners.join_q < 0
    )
    return LatentState(
        active=active,
        demand=demand,
        win_rate=win_rate,
        age=age,
        assigned=assigned,
        randomized=randomized,
        multiplier=multiplier,
        trainings=trainings,
        certifications=certifications,
        observed=observed,
        momentum=momentum,
        addition=addition,
    )


def _dormant(
    params: WorldParams, partners: PartnerDraw, rng: np.random.Generator, t_all: int
) -> np.ndarray:
    """(N, T) bool: the partner-quarters with no demand (see ``WorldParams.dormant_share``)."""
    n = partners.size.size
    share = float(np.clip(params.dormant_share, 1e-6, 1 - 1e-6))
    logit = (
        np.log(share / (1.0 - share))
        - params.dormant_size_slope * partners.size_z
        + params.dormant_sd * rng.normal(0.0, 1.0, n)
    )
    chance = 1.0 / (1.0 + np.exp(-logit))
    return rng.random((n, t_all)) < chance[:, None]


def _addition(params: WorldParams, assigned: np.ndarray, active: np.ndarray) -> np.ndarray | None:
    """Money the assigned incentive adds (its ``absolute`` effect); None when no incentive
    has one (every world but ``activation``)."""
    if not any(spec.absolute for spec in params.incentives):
        return None
    addition = np.zeros(assigned.shape)
    for k in range(len(params.incentives)):
        hit = assigned == k + 1
        addition[hit] = absolute_effect(params, active, k)[hit]
    return addition


def _multiplier(
    params: WorldParams,
    partners: PartnerDraw,
    assigned: np.ndarray,
    age: np.ndarray,
    momentum: np.ndarray | None,
) -> np.ndarray:
    """1 + the effect of the assigned incentive (1 where none)."""
    multiplier = np.ones(assigned.shape)
    for k in range(len(params.incentives)):
        hit = assigned == k + 1
        multiplier[hit] = 1.0 + effect(params, partners, age, k, momentum)[hit]
    return multiplier


def play_quarter(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    assigned: np.ndarray,
    randomized: np.ndarray,
) -> LatentState:
    """The state with quarter ``state.observed`` played under the given decisions.

    ``assigned`` (N,) codes as :class:`LatentState` (0 = none, j + 1 = incentive j) and
    ``randomized`` (N,) bool are that quarter's decisions; a partner with no activity in
    the quarter (churned out) gets none. The quarter's multiplier follows; trainings and
    certifications are drawn again from it on (enablement boosts them), so the win rates
    of the next two quarters follow the decisions too. Demand, the shocks and everything
    before the quarter are kept. The result has ``observed`` one larger.
    """
    q = state.observed
    if q >= state.active.shape[1] - 1:
        raise ValueError(f"quarter {q} is the last simulated one: it cannot be played forward")
    live = state.active[:, q] > 0
    chosen = state.assigned.copy()
    chosen[:, q] = np.where(live, assigned, 0)
    drawn = state.randomized.copy()
    drawn[:, q] = np.asarray(randomized, dtype=bool) & live
    multiplier = state.multiplier.copy()
    multiplier[:, q] = _multiplier(
        params,
        partners,
        chosen[:, q : q + 1],
        state.age[:, q : q + 1],
        None if state.momentum is None else state.momentum[:, q : q + 1],
    )[:, 0]
    addition = state.addition
    if addition is not None:
        addition = addition.copy()
        addition[:, q] = _addition(params, chosen[:, q : q + 1], state.active[:, q : q + 1])[:, 0]
    win_rate, trainings, certifications = _engagement(
        params,
        partners,
        rng,
        state.active,
        chosen,
        partners.join_q < 0,
        kept=(state.trainings, state.certifications),
        from_quarter=q,
    )
    return dataclasses.replace(
        state,
        assigned=chosen,
        randomized=drawn,
        multiplier=multiplier,
        addition=addition,
        win_rate=win_rate,
        trainings=trainings,
        certifications=certifications,
        observed=q + 1,
    )


def _assign(
    params: WorldParams,
    partners: PartnerDraw,
    rng: np.random.Generator,
    active: np.ndarray,
    age: np.ndarray,
    observed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Incentive decisions: a confounded historical policy plus a randomized share.

    The policy favours big, high-tier partners and mostly hands out rebates; the
    randomized decisions pick uniformly among ``none`` and every incentive.
    """
    n, t_all = active.shape
    k = len(params.incentives)
    eligible = active > 0
    eligible[:, observed:] = False
    randomized = (rng.random((n, t_all)) < params.randomized_share) & eligible
    random_choice = rng.integers(0, k + 1, (n, t_all))

    logit = (
        params.policy_intercept
        + params.policy_size_slope * partners.size_z
        + np.asarray(params.policy_tier)[partners.tier_idx]
    )
    treat = rng.random((n, t_all)) < 1.0 / (1.0 + np.exp(-logit[:, None]))
    weights = np.array([s.policy_weight for s in params.incentives], dtype=float)
    names = params.incentive_names
    new_weights = weights.copy()
    if "enablement" in names:  # new partners get enablement more often
        new_weights[names.index("enablement")] *= 4.0
    u = rng.random((n, t_all))
    old_pick = np.searchsorted(np.cumsum(weights) / weights.sum(), u)
    new_pick = np.searchsorted(np.cumsum(new_weights) / new_weights.sum(), u)
    pick = np.where(age < NEW_PARTNER_QUARTERS, new_pick, old_pick)
    policy = np.where(treat, np.minimum(pick, k - 1) + 1, 0)

    assigned = np.where(randomized, random_choice, policy)
    assigned = np.where(eligible, assigned, 0).astype(np.int8)
    return assigned, randomized


def _engagement(
    params: WorldParams,
    partners: PartnerDraw,
    rng: np.random.Generator,
    active: np.ndarray,
    assigned: np.ndarray,
    initial: np.ndarray,
    kept: tuple[np.ndarray, np.ndarray] | None = None,
    from_quarter: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trainings and certifications per quarter, and the win rate they lead to.

    The win rate of quarter t uses the engagement stock at the end of quarters t-1
    and t-2, so engagement pays off after a lag of one to two quarters. ``kept``
    (trainings, certifications) keeps the counts of the quarters before ``from_quarter``
    and draws only from it on (a quarter played forward by :func:`play_quarter`).
    """
    n, t_all = active.shape
    names = params.incentive_names
    enable = names.index("enablement") + 1 if "enablement" in names else -1
    propensity = np.exp(partners.engagement)
    steady = (
        propensity
        * (
            params.trainings_per_quarter
            + params.certification_weight * params.certifications_per_quarter
        )
        / (1.0 - params.engagement_decay)
    )
    stock_1 = np.where(initial, steady, 0.0)  # stock at the end of t-1
    stock_2 = stock_1.copy()  # ... and of t-2
    win_rate = np.empty((n, t_all))
    trainings = np.empty((n, t_all), dtype=np.int64)
    certifications = np.empty((n, t_all), dtype=np.int64)
    lo, hi = params.win_rate_bounds
    for q in range(t_all):
        lagged = np.log1p(0.5 * (stock_1 + stock_2))
        logit = params.win_intercept + params.win_slope * lagged + partners.skill
        win_rate[:, q] = np.clip(1.0 / (1.0 + np.exp(-logit)), lo, hi)
        boost = np.where(assigned[:, q] == enable, 1.0 + params.enablement_training_boost, 1.0)
        rate = propensity * active[:, q] * boost
        if kept is not None and q < from_quarter:
            trainings[:, q], certifications[:, q] = kept[0][:, q], kept[1][:, q]
        else:
            trainings[:, q] = rng.poisson(params.trainings_per_quarter * rate)
            certifications[:, q] = rng.poisson(params.certifications_per_quarter * rate)
        stock_2 = stock_1
        stock_1 = (
            params.engagement_decay * stock_1
            + trainings[:, q]
            + params.certification_weight * certifications[:, q]
        )
    return win_rate, trainings, certifications
