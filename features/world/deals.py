"""Opportunities and bookings: won deals, run-rate revenue and credit notes.

Deals are generated backwards from the quarter they close in: the pipeline closing
in quarter t is sized from that quarter's demand, each opportunity is created one
sales cycle (about one to three quarters) earlier, and wins with the partner's
win rate of quarter t (times the incentive's multiplier). So the pipeline open at
a quarter end already carries most of the next quarter's revenue.

Rows are returned as integer/float arrays (partner index, day numbers); the
``output`` module turns them into frames.
"""

from __future__ import annotations

import numpy as np

from features.world.latent import LatentState
from features.world.params import WorldParams
from features.world.partners import PartnerDraw

NO_DAY = np.iinfo(np.int64).min
"""Day number of a missing date."""

Rows = dict[str, np.ndarray]


def uniform_days(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, u: np.ndarray | None = None
) -> np.ndarray:
    """A day in ``[lo, hi)`` for each row (``hi > lo``), uniform unless ``u`` is given."""
    u = rng.random(lo.size) if u is None else u
    return lo + np.minimum((u * (hi - lo)).astype(np.int64), hi - lo - 1)


def split_amounts(
    rng: np.random.Generator, totals: np.ndarray, parts: np.ndarray, shape: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split each total into ``parts`` random pieces that sum to it exactly (to the cent).

    Returns the row index of each piece and the piece amounts.
    """
    owner = np.repeat(np.arange(totals.size), parts)
    weights = rng.gamma(shape, 1.0, owner.size)
    cum = np.cumsum(weights)
    first = np.cumsum(parts) - parts
    group_start = np.repeat(np.concatenate(([0.0], cum))[first], parts)
    group_total = np.repeat(cum[first + parts - 1], parts) - group_start
    running = np.round(totals[owner] * (cum - group_start) / group_total, 2)
    previous = np.concatenate(([0.0], running[:-1]))
    is_first = np.zeros(owner.size, dtype=bool)
    is_first[first] = True
    return owner, np.round(running - np.where(is_first, 0.0, previous), 2)


def simulate_opportunities(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    bounds: np.ndarray,
    as_of_day: int,
) -> Rows:
    """Every opportunity that exists at the as-of date, with its outcome if closed.

    Keys: partner, quarter (close quarter), created, closed (``NO_DAY`` when open),
    expected_close (``NO_DAY`` when absent), status (0 open, 1 won, 2 lost), amount,
    registered, product.
    """
    return observe_opportunities(
        draw_opportunities(params, partners, state, rng, bounds), state, as_of_day
    )


def draw_opportunities(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    bounds: np.ndarray,
) -> Rows:
    """Every opportunity of every simulated quarter, before the as-of date hides any.

    Keys as :func:`observe_opportunities`'s output, with ``closed`` always set and no
    ``status``, plus ``u_win`` (the uniform its outcome is decided by) and ``win_factor``
    (the registration's lift of the win rate): the outcome is left to
    :func:`observe_opportunities`, so a quarter played forward under other decisions
    decides its deals with the same uniforms.
    """
    won_scale = (1.0 - params.run_rate_share) / params.reference_win_rate
    pipeline = state.demand * won_scale
    expected_n = np.where(
        state.demand > 0,
        params.deals_per_quarter * (state.demand / 40_000.0) ** params.deals_size_power,
        0.0,
    )
    count = rng.poisson(expected_n)
    p_idx, q_idx = np.nonzero(count)
    reps = count[p_idx, q_idx]
    mean_amount = pipeline[p_idx, q_idx] / expected_n[p_idx, q_idx]
    partner = np.repeat(p_idx, reps)
    quarter = np.repeat(q_idx, reps)
    n = partner.size
    amount = np.repeat(mean_amount, reps) * rng.lognormal(
        -(params.deal_sigma**2) / 2, params.deal_sigma, n
    )
    amount = np.maximum(np.round(amount, -1), 10.0)

    joined = partners.joined_day[partner]
    lo = np.maximum(bounds[quarter], joined)
    closed = uniform_days(rng, lo, bounds[quarter + 1], rng.beta(1.8, 1.0, n))  # late in quarter
    cycle = np.clip(
        rng.lognormal(np.log(params.cycle_days_median), params.cycle_sigma, n),
        *params.cycle_days_bounds,
    ).astype(np.int64)
    created = np.maximum(closed - cycle, joined)

    tier_pos = (len(params.tiers) - 1 - partners.tier_idx[partner]) / max(len(params.tiers) - 1, 1)
    reg_lo, reg_hi = params.registered_share
    reg_share = reg_lo + (reg_hi - reg_lo) * tier_pos
    registered = rng.random(n) < reg_share
    lift = params.registered_win_lift
    factor = np.where(registered, lift, 1.0) / (reg_share * lift + 1.0 - reg_share)
    u_win = rng.random(n)

    has_expected = rng.random(n) < params.expected_close_share
    expected = closed + np.round(
        rng.normal(params.expected_close_bias_days, params.expected_close_sd_days, n)
    ).astype(np.int64)
    expected = np.where(has_expected, np.maximum(expected, created), NO_DAY)
    shares = np.asarray(params.product_shares)
    product = rng.choice(shares.size, size=n, p=shares / shares.sum())

    return {
        "partner": partner,
        "quarter": quarter,
        "created": created,
        "closed": closed,
        "expected_close": expected,
        "amount": amount,
        "registered": registered,
        "product": product,
        "u_win": u_win,
        "win_factor": factor,
    }


def observe_opportunities(drawn: Rows, state: LatentState, as_of_day: int) -> Rows:
    """The opportunities created by ``as_of_day``, as the CRM shows them then, in the order
    (created, partner): a deal wins with the win rate and incentive multiplier of its close
    quarter in ``state``. A later as-of date keeps the earlier one's rows as a prefix."""
    partner, quarter = drawn["partner"], drawn["quarter"]
    closed, created = drawn["closed"], drawn["created"]
    win_p = state.win_rate[partner, quarter] * state.multiplier[partner, quarter]
    won = drawn["u_win"] < np.clip(win_p * drawn["win_factor"], 0.0, 0.97)
    keep = created <= as_of_day
    is_open = closed > as_of_day
    rows: Rows = {
        "partner": partner,
        "quarter": quarter,
        "created": created,
        "closed": np.where(is_open, NO_DAY, closed),
        "expected_close": drawn["expected_close"],
        "status": np.where(is_open, 0, np.where(won, 1, 2)),
        "amount": drawn["amount"],
        "registered": drawn["registered"],
        "product": drawn["product"],
    }
    order = np.lexsort((partner[keep], created[keep]))
    return {k: v[keep][order] for k, v in rows.items()}


def simulate_bookings(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    rng: np.random.Generator,
    bounds: np.ndarray,
    opportunities: Rows,
    from_quarter: int = 0,
    spill: list[Rows] | None = None,
) -> Rows:
    """Bookings of the observed quarters from ``from_quarter`` on: won deals, run-rate revenue,
    credit notes.

    Keys: partner, day, amount, product, opportunity (row in ``opportunities`` or -1).
    Credit notes dated after the as-of date are dropped; with ``spill`` they are appended
    to it instead, without their amount (:func:`credit_spilled_notes` draws it), for a
    quarter played forward later.
    """
    as_of_day = int(bounds[state.observed]) - 1
    # Won deals book their amount in one to three pieces, on closed_on and later that quarter.
    close_q = opportunities["quarter"]
    won = np.flatnonzero(
        (opportunities["status"] == 1) & (close_q >= from_quarter) & (close_q < state.observed)
    )
    probs = np.asarray(params.split_probs) / np.sum(params.split_probs)
    pieces = rng.choice(probs.size, size=won.size, p=probs) + 1
    owner, deal_amounts = split_amounts(rng, opportunities["amount"][won], pieces, 2.0)
    deal = won[owner]
    closed = opportunities["closed"][deal]
    quarter_end = bounds[opportunities["quarter"][deal] + 1]
    later = uniform_days(rng, closed, quarter_end)
    first = np.r_[True, owner[1:] != owner[:-1]]
    deal_rows = {
        "partner": opportunities["partner"][deal],
        "day": np.where(first, closed, later),
        "amount": deal_amounts,
        "product": opportunities["product"][deal],
        "opportunity": deal,
    }

    # Run-rate revenue: several smaller bookings spread over the quarter.
    demand = state.demand[:, from_quarter : state.observed]
    total = demand * params.run_rate_share * state.multiplier[:, from_quarter : state.observed]
    total = total * rng.lognormal(
        -(params.run_rate_sigma**2) / 2, params.run_rate_sigma, demand.shape
    )
    if state.addition is not None:  # absolute effects (issue 23): one lump, or none
        hit = rng.random(demand.shape) < params.activation_hit_rate
        lump = state.addition[:, from_quarter : state.observed] / params.activation_hit_rate
        total = total + np.where(hit, lump, 0.0)
    p_idx, q_idx = np.nonzero(np.round(total, 2) > 0)
    lam = params.run_rate_bookings * np.sqrt(demand[p_idx, q_idx] / 20_000.0)
    parts = np.clip(rng.poisson(lam), 1, 60)
    owner, rr_amounts = split_amounts(rng, np.round(total[p_idx, q_idx], 2), parts, 1.5)
    partner, quarter = p_idx[owner], q_idx[owner] + from_quarter
    lo = np.maximum(bounds[quarter], partners.joined_day[partner])
    rr_product = np.where(
        rng.random(owner.size) < 0.6,
        len(params.product_lines) - 1,
        rng.integers(0, len(params.product_lines), owner.size),
    )
    rr_rows = {
        "partner": partner,
        "day": uniform_days(rng, lo, bounds[quarter + 1]),
        "amount": rr_amounts,
        "product": rr_product,
        "opportunity": np.full(owner.size, -1, dtype=np.int64),
    }
    rows = {k: np.concatenate((deal_rows[k], rr_rows[k])) for k in deal_rows}
    nonzero = rows["amount"] != 0  # a tiny total split in many pieces can leave 0.00 pieces
    rows = {k: v[nonzero] for k, v in rows.items()}
    rows = _add_credit_notes(params, partners, rng, bounds, rows, as_of_day, spill)
    order = np.lexsort((rows["partner"], rows["day"]))
    return {k: v[order] for k, v in rows.items()}


def _add_credit_notes(
    params: WorldParams,
    partners: PartnerDraw,
    rng: np.random.Generator,
    bounds: np.ndarray,
    rows: Rows,
    as_of_day: int,
    spill: list[Rows] | None = None,
) -> Rows:
    """Credit a random share of positive bookings, some weeks later, in part or in full."""
    positive = np.flatnonzero(rows["amount"] > 0)
    credited = positive[rng.random(positive.size) < params.credit_note_share]
    day = rows["day"][credited] + rng.integers(*params.credit_note_days, credited.size)
    partner = rows["partner"][credited]
    fade_end = np.minimum(partners.churn_q[partner] + params.churn_fade_quarters, bounds.size - 1)
    last_active = bounds[fade_end] - 1
    keep = (day <= as_of_day) & (day <= last_active)
    if spill is not None:  # no draws: the world up to the as-of date stays as it was
        later = (day > as_of_day) & (day <= last_active)
        spill.append(
            {
                "partner": partner[later],
                "day": day[later],
                "amount": rows["amount"][credited[later]],  # of the credited booking
                "product": rows["product"][credited[later]],
                "opportunity": rows["opportunity"][credited[later]],
            }
        )
    credited, day = credited[keep], day[keep]
    amount = -np.round(rows["amount"][credited] * rng.uniform(0.1, 1.0, credited.size), 2)
    notes = {
        "partner": rows["partner"][credited],
        "day": day,
        "amount": amount,
        "product": rows["product"][credited],
        "opportunity": rows["opportunity"][credited],
    }
    return {k: np.concatenate((rows[k], notes[k])) for k in rows}


def credit_spilled_notes(rng: np.random.Generator, spilled: Rows, until_day: int) -> Rows:
    """The credit notes :func:`simulate_bookings` spilled past its as-of date, dated by
    ``until_day``: each credits 10-100 % of its booking (drawn for every spilled note, so
    a later ``until_day`` keeps the earlier notes' amounts)."""
    share = rng.uniform(0.1, 1.0, spilled["partner"].size)
    keep = spilled["day"] <= until_day
    amount = -np.round(spilled["amount"] * share, 2)
    return {k: (amount if k == "amount" else v)[keep] for k, v in spilled.items()}
