"""Engagement events and incentive grants of the observed quarters.

Trainings and certifications come from the latent state (they drive win rates
with a lag); webinars, portal logins and accepted leads follow the partner's
engagement propensity without moving revenue (realistic noise features). MDF
and co-marketing grants leave ``mdf_claim`` and ``co_marketing_event`` rows.
"""

from __future__ import annotations

import numpy as np

from features.world.deals import Rows, uniform_days
from features.world.latent import LatentState, expected_cost
from features.world.params import WorldParams
from features.world.partners import PartnerDraw

ACTIVITIES: tuple[str, ...] = (
    "training_completed",
    "certification_earned",
    "webinar_attended",
    "portal_login",
    "lead_accepted",
    "co_marketing_event",
    "mdf_claim",
)


def simulate_incentives(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    bounds: np.ndarray,
    from_quarter: int = 0,
) -> Rows:
    """One row per granted incentive (``none`` decisions leave no row) of the observed
    quarters from ``from_quarter`` on.

    Keys: partner, quarter, incentive (index into params.incentives), start, end,
    cost, randomized. ``starts_on`` falls in the first part of the quarter, so the
    grant belongs to that quarter; ``ends_on`` may run a few weeks past it.
    """
    p_idx, q_idx = np.nonzero(state.assigned[:, from_quarter : state.observed] > 0)
    q_idx = q_idx + from_quarter
    k = state.assigned[p_idx, q_idx].astype(np.int64) - 1
    n = p_idx.size
    lo = np.maximum(bounds[q_idx], partners.joined_day[p_idx])
    hi = bounds[q_idx + 1]
    start = uniform_days(rng, lo, np.maximum(lo + 1, lo + (hi - lo) * 6 // 10))
    durations = np.array([s.duration_days for s in params.incentives])
    length = rng.integers(durations[k, 0], durations[k, 1] + 1)
    end = np.minimum(start + length, hi - 1 + 45)
    costs = np.stack(
        [expected_cost(params, partners, j) for j in range(len(params.incentives))], axis=1
    )
    cost = costs[p_idx, k] * rng.lognormal(-(params.cost_sigma**2) / 2, params.cost_sigma, n)
    order = np.lexsort((p_idx, start))
    rows: Rows = {
        "partner": p_idx,
        "quarter": q_idx,
        "incentive": k,
        "start": start,
        "end": end,
        "cost": np.round(cost, 2),
        "randomized": state.randomized[p_idx, q_idx],
    }
    return {key: v[order] for key, v in rows.items()}


def holdout_rows(
    partners: PartnerDraw, state: LatentState, bounds: np.ndarray, from_quarter: int = 0
) -> Rows:
    """One row per randomized ``none`` decision of the observed quarters: the control arm
    of the randomized share, written as the data contract's ``none`` rows (randomized,
    cost 0). Keys as :func:`simulate_incentives`'s, ``incentive`` -1. No random draws (the
    rest of the world does not move): each runs from the later of the quarter's start and
    the partner's join day to the quarter's last day. Quarters from ``from_quarter`` on.
    """
    span = slice(from_quarter, state.observed)
    p_idx, q_idx = np.nonzero((state.assigned[:, span] == 0) & state.randomized[:, span])
    q_idx = q_idx + from_quarter
    start = np.maximum(bounds[q_idx], partners.joined_day[p_idx])
    rows: Rows = {
        "partner": p_idx,
        "quarter": q_idx,
        "incentive": np.full(p_idx.size, -1, dtype=np.int64),
        "start": start,
        "end": np.maximum(start, bounds[q_idx + 1] - 1),
        "cost": np.zeros(p_idx.size),
        "randomized": np.ones(p_idx.size, dtype=bool),
    }
    order = np.lexsort((p_idx, start))
    return {key: v[order] for key, v in rows.items()}


def simulate_activities(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    bounds: np.ndarray,
    incentives: Rows,
    from_quarter: int = 0,
    until_day: int | None = None,
) -> Rows:
    """Engagement events of the observed quarters from ``from_quarter`` on, and the events
    that follow ``incentives`` up to ``until_day`` (default: the as-of date).

    Keys: partner, day, activity (index into ACTIVITIES), quantity, amount.
    """
    obs = state.observed
    span = slice(from_quarter, obs)
    active = state.active[:, span]
    propensity = np.exp(partners.engagement)[:, None] * active
    size_factor = (partners.size / params.median_size)[:, None] ** 0.1
    counts = {
        0: state.trainings[:, span],
        1: state.certifications[:, span],
        2: rng.poisson(params.webinars_per_quarter * propensity),
        4: rng.poisson(params.leads_per_quarter * propensity * size_factor),
        5: rng.poisson(0.03 * active),  # organic co-marketing
    }
    parts: list[Rows] = []
    for code, matrix in counts.items():
        p_idx, q_idx = np.nonzero(matrix)
        reps = matrix[p_idx, q_idx]
        partner, quarter = np.repeat(p_idx, reps), np.repeat(q_idx + from_quarter, reps)
        lo = np.maximum(bounds[quarter], partners.joined_day[partner])
        quantity = 1.0 + (rng.poisson(0.4, partner.size) if code == 0 else 0.0)
        parts.append(
            _rows(partner, uniform_days(rng, lo, bounds[quarter + 1]), code, quantity, 0.0)
        )

    # Portal logins: one row per month with logins, quantity = number of logins.
    login_rate = params.logins_per_month * np.sqrt(propensity) * size_factor
    for month in range(3):
        logins = rng.poisson(login_rate)
        p_idx, at = np.nonzero(logins)
        q_idx = at + from_quarter
        lo = np.maximum(bounds[q_idx] + 30 * month, partners.joined_day[p_idx])
        hi = np.minimum(bounds[q_idx] + 30 * (month + 1), bounds[q_idx + 1])
        ok = hi > lo
        days = uniform_days(rng, lo[ok], hi[ok])
        parts.append(_rows(p_idx[ok], days, 3, logins[p_idx, at][ok].astype(float), 0.0))

    until = int(bounds[obs]) - 1 if until_day is None else until_day
    parts.extend(_incentive_events(params, rng, bounds, incentives, until))
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((rows["activity"], rows["partner"], rows["day"]))
    return {k: v[order] for k, v in rows.items()}


def _incentive_events(
    params: WorldParams,
    rng: np.random.Generator,
    bounds: np.ndarray,
    incentives: Rows,
    as_of_day: int,
) -> list[Rows]:
    """MDF claims and co-marketing events that follow the grants, up to ``as_of_day`` (all
    drawn first, so a later day keeps the earlier events)."""
    names = params.incentive_names
    out: list[Rows] = []
    if "mdf" in names:
        mdf = np.flatnonzero(
            (incentives["incentive"] == names.index("mdf"))
            & (rng.random(incentives["partner"].size) < params.mdf_claim_prob)
        )
        start, end = incentives["start"][mdf] + 7, incentives["end"][mdf] + 31
        day = uniform_days(rng, start, np.maximum(end, start + 1))
        amount = np.round(incentives["cost"][mdf] * rng.uniform(0.4, 1.0, mdf.size), 2)
        keep = day <= as_of_day
        out.append(_rows(incentives["partner"][mdf][keep], day[keep], 6, 1.0, amount[keep]))
    if "co_marketing" in names:
        co = np.flatnonzero(incentives["incentive"] == names.index("co_marketing"))
        co = np.repeat(co, 1 + rng.poisson(0.5, co.size))
        start = incentives["start"][co]
        hi = np.minimum(incentives["end"][co] + 1, bounds[incentives["quarter"][co] + 1])
        day = uniform_days(rng, start, np.maximum(hi, start + 1))
        keep = day <= as_of_day
        out.append(_rows(incentives["partner"][co][keep], day[keep], 5, 1.0, 0.0))
    return out


def _rows(
    partner: np.ndarray,
    day: np.ndarray,
    code: int,
    quantity: np.ndarray | float,
    amount: np.ndarray | float,
) -> Rows:
    n = partner.size
    return {
        "partner": partner.astype(np.int64),
        "day": day.astype(np.int64),
        "activity": np.full(n, code, dtype=np.int8),
        "quantity": np.broadcast_to(np.asarray(quantity, dtype=float), (n,)).copy(),
        "amount": np.broadcast_to(np.asarray(amount, dtype=float), (n,)).copy(),
    }
