"""Playing a world forward: quarters after its as-of date under decisions given from outside.

A channel team that runs a plan (an experiment's arms, the recommender's choices) wants to
see what the quarter brings. The world already holds that quarter's latent state (demand,
shocks, the pipeline that closes in it: :func:`features.world.simulate.simulate_world`
simulates six quarters past the as-of date), so playing it means deciding it:

- the decisions set the quarter's incentive multiplier (:func:`play_quarter`), and the
  trainings from then on are drawn again (enablement boosts them, win rates follow);
- the deals closing in the quarter win with the same uniforms as before, now against the
  new win rate and multiplier; the opportunities created in it appear, the ones that close
  in it get their outcome, and the ones open at the old as-of date keep their rows;
- the quarter's grants (dates and realised cost drawn around the world's cost), its ``none``
  rows for randomized holdouts, engagement events, run-rate revenue, won-deal bookings and
  credit notes are drawn with a generator of their own, seeded by (world seed, quarter,
  play seed), so a later play replays the earlier ones exactly;
- credit notes, MDF claims and co-marketing events that the original world dropped because
  they fell after its as-of date now appear when they fall in a played quarter.

Nothing dated on or before the old as-of date changes (point in time), and partners do
not join during a played quarter. Each played quarter costs one of the simulated quarters
past the as-of date: at most :data:`MAX_PLAYED` (the open pipeline of the last played
quarter stays complete up to cycles of about ``(6 - played) * 90`` days).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from features.world.activities import holdout_rows, simulate_activities, simulate_incentives
from features.world.deals import (
    Rows,
    credit_spilled_notes,
    observe_opportunities,
    simulate_bookings,
)
from features.world.latent import LatentState, play_quarter
from features.world.params import WorldParams
from features.world.partners import PartnerDraw

MAX_PLAYED = 4
"""Quarters a world can be played past its original as-of date at most (the horizon quarter
of the last one must still be simulated, and its open pipeline mostly there); worlds with
short sales cycles simulate fewer quarters ahead and allow fewer (:func:`playable`)."""


def future_quarters(params: WorldParams) -> int:
    """Quarters simulated past the as-of date: as long as a sales cycle can last, plus one,
    so that the pipeline open at the as-of date is complete and the horizon quarter has a
    truth."""
    return int(np.ceil(params.cycle_days_bounds[1] / 90)) + 1


def playable(params: WorldParams) -> int:
    """Quarters a world with ``params`` can be played past its original as-of date."""
    return min(MAX_PLAYED, future_quarters(params) - 1)


@dataclass(frozen=True)
class PlayedQuarter:
    """One quarter's decisions, for every partner of the world (aligned by index)."""

    assigned: np.ndarray  # (N,) int: 0 = none, j + 1 = params.incentives[j]
    randomized: np.ndarray  # (N,) bool: the decision was drawn at random
    seed: int = 0


@dataclass(frozen=True)
class Played:
    """The state after the played quarters and every row of the tables up to their end."""

    state: LatentState
    opportunities: Rows
    bookings: Rows
    activities: Rows
    incentives: Rows
    holdouts: Rows


def _stack(parts: list[Rows], *keys: str) -> Rows:
    """Concatenate row blocks and sort stably by ``keys`` (first key most significant)."""
    rows = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort(tuple(rows[k] for k in reversed(keys)))
    return {k: v[order] for k, v in rows.items()}


def play_forward(
    params: WorldParams,
    partners: PartnerDraw,
    state: LatentState,
    bounds: np.ndarray,
    drawn: Rows,
    base: dict[str, Rows],
    spilled: Rows,
    *,
    seed: int,
    played: tuple[PlayedQuarter, ...],
) -> Played:
    """Play ``played`` after ``state.observed``; ``base`` holds the original world's
    ``bookings``, ``activities`` (their incentive events drawn up to the new as-of date),
    ``incentives`` and ``holdouts``; ``drawn`` every opportunity
    (:func:`features.world.deals.draw_opportunities`); ``spilled`` the credit notes the
    original bookings dropped past its as-of date."""
    if len(played) > playable(params):
        raise ValueError(f"at most {playable(params)} quarters can be played, got {len(played)}")
    n = partners.size.size
    until = int(bounds[state.observed + len(played)]) - 1
    steps: list[tuple[int, np.random.Generator]] = []
    grants, events, holdouts = [base["incentives"]], [base["activities"]], [base["holdouts"]]
    for e, play in enumerate(played):
        if play.assigned.shape != (n,) or play.randomized.shape != (n,):
            raise ValueError(f"played quarter {e + 1}: decisions for {n} partners expected")
        rng = np.random.default_rng([seed, e + 1, play.seed])
        state = play_quarter(params, partners, state, rng, play.assigned, play.randomized)
        q = state.observed - 1
        grants.append(simulate_incentives(params, partners, state, rng, bounds, from_quarter=q))
        events.append(
            simulate_activities(
                params, partners, state, rng, bounds, grants[-1], from_quarter=q, until_day=until
            )
        )
        holdouts.append(holdout_rows(partners, state, bounds, from_quarter=q))
        steps.append((q, rng))
    opportunities = observe_opportunities(drawn, state, until)
    notes = [credit_spilled_notes(np.random.default_rng([seed, 0, 7]), spilled, until)]
    bookings = [base["bookings"]]
    for e, (q, rng) in enumerate(steps):
        spill: list[Rows] = []
        at_q = dataclasses.replace(state, observed=q + 1)
        bookings.append(
            simulate_bookings(
                params, partners, at_q, rng, bounds, opportunities, from_quarter=q, spill=spill
            )
        )
        note_rng = np.random.default_rng([seed, e + 1, played[e].seed, 7])
        notes.append(credit_spilled_notes(note_rng, spill[0], until))
    return Played(
        state=state,
        opportunities=opportunities,
        bookings=_stack(bookings + notes, "day", "partner"),
        activities=_stack(events, "day", "partner", "activity"),
        incentives=_stack(grants, "start", "partner"),
        holdouts=_stack(holdouts, "start", "partner"),
    )
