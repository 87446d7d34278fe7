"""The synthetic channel world: a demo dataset with ground truth.

``simulate_world`` draws partners, their quarterly latent state (demand with
trend, ramp-up, churn, regional seasonality and persistent shocks; engagement
that lifts win rates after a lag; incentive decisions from a confounded policy
plus a randomized share), and the contract tables that such a world leaves in a
PRM/CRM export. ``World.truth`` holds what a real export never shows: realised
revenue per quarter, every partner's expected revenue under every incentive, the
latent partner traits and every decision including ``none``. The model is
described in the ``features.world`` modules; every knob is in ``WorldParams``.

Everything is vectorised with numpy and deterministic for a given seed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import write_bytes_atomically
from features.names import NONE
from features.world.activities import holdout_rows, simulate_activities, simulate_incentives
from features.world.deals import (
    Rows,
    draw_opportunities,
    observe_opportunities,
    simulate_bookings,
)
from features.world.forward import PlayedQuarter, future_quarters, play_forward
from features.world.latent import simulate_state
from features.world.output import make_ids, to_days, write_frame_csv
from features.world.params import IncentiveSpec, WorldParams
from features.world.partners import draw_partners
from features.world.summary import summarize
from features.world.tables import build_tables
from features.world.truth import best_incentives, build_truth

if TYPE_CHECKING:
    from features.data import Dataset

__all__ = [
    "NONE",
    "IncentiveSpec",
    "PlayedQuarter",
    "World",
    "WorldParams",
    "best_incentives",
    "simulate_world",
    "world_dataset",
    "world_summary",
    "write_world",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class World:
    """A simulated world: the contract tables, the ground truth, and the as-of date."""

    tables: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]
    as_of: pd.Timestamp
    params: WorldParams = field(default_factory=WorldParams)
    seed: int = 0
    quarters: int = 0  # simulated before the first played quarter
    start: str = ""  # first day of the first quarter
    played: tuple[PlayedQuarter, ...] = ()


def simulate_world(
    partners: int = 2000,
    quarters: int = 20,
    seed: int = 42,
    start: str = "2021-01-01",
    params: WorldParams | None = None,
    played: tuple[PlayedQuarter, ...] = (),
) -> World:
    """Simulate ``partners`` partners over ``quarters`` calendar quarters from ``start``.

    ``start`` may be any day; the world starts at the first day of its quarter. The
    as-of date is the last day of the last simulated quarter, or of the last ``played``
    quarter: those follow it under the given decisions (:mod:`features.world.forward`),
    and leave everything up to the last simulated quarter as the world without them.
    """
    if partners < 1 or quarters < 2:
        raise ValueError(f"need at least 1 partner and 2 quarters, got {partners}, {quarters}")
    params = params or WorldParams()
    began = time.perf_counter()
    rng = np.random.default_rng(seed)
    calendar = QuarterCalendar()
    first = calendar.quarter_index(pd.Timestamp(start))
    # Simulate past the as-of date for as long as a sales cycle can last, so that the
    # pipeline open at the as-of date is complete and the horizon quarter has a truth.
    future = future_quarters(params)
    starts = calendar.index_to_start(np.arange(first, first + quarters + future + 1))
    bounds = to_days(starts)
    season_q = (pd.DatetimeIndex(starts[:-1]).month.to_numpy() - 1) // 3
    as_of_day = int(bounds[quarters]) - 1

    draw = draw_partners(params, rng, partners, bounds, observed=quarters)
    state = simulate_state(params, draw, rng, bounds, season_q, observed=quarters)
    drawn = draw_opportunities(params, draw, state, rng, bounds)
    opportunities = observe_opportunities(drawn, state, as_of_day)
    spill: list[Rows] = []
    bookings = simulate_bookings(params, draw, state, rng, bounds, opportunities, spill=spill)
    incentives = simulate_incentives(params, draw, state, rng, bounds)
    until = int(bounds[quarters + len(played)]) - 1 if played else None
    activities = simulate_activities(params, draw, state, rng, bounds, incentives, until_day=until)

    ids = make_ids("P", partners, 5)
    holdouts = holdout_rows(draw, state, bounds)
    if played:
        base = {
            "bookings": bookings,
            "activities": activities,
            "incentives": incentives,
            "holdouts": holdouts,
        }
        forward = play_forward(
            params, draw, state, bounds, drawn, base, spill[0], seed=seed, played=played
        )
        state, opportunities = forward.state, forward.opportunities
        bookings, activities = forward.bookings, forward.activities
        incentives, holdouts = forward.incentives, forward.holdouts
        as_of_day = int(bounds[state.observed]) - 1
    tables = build_tables(
        params, draw, ids, opportunities, bookings, activities, incentives, holdouts
    )
    truth = build_truth(params, draw, state, bounds, ids, bookings)
    as_of = pd.Timestamp(np.datetime64(as_of_day, "D")).as_unit("ns")
    log.info(
        "simulated %d partners x %d quarters in %.1fs: %s",
        partners,
        quarters,
        time.perf_counter() - began,
        ", ".join(f"{name} {len(frame)}" for name, frame in tables.items()),
    )
    return World(
        tables=tables,
        truth=truth,
        as_of=as_of,
        params=params,
        seed=seed,
        quarters=quarters,
        start=str(pd.Timestamp(np.datetime64(int(bounds[0]), "D")).date()),
        played=played,
    )


def write_world(world: World, out: Path) -> None:
    """Write ``out/<table>.csv`` for each table and ``out/_truth/<name>.csv``.

    Each file is written to a temporary file in its folder and then moved into
    place, so an interrupted write never leaves a complete-looking half file.
    ``_truth/world.json`` records the as-of date, the seed and the parameters.
    """
    out = Path(out)
    for name, frame in world.tables.items():
        write_frame_csv(frame, out / f"{name}.csv")
    truth_dir = out / "_truth"
    for name, frame in world.truth.items():
        write_frame_csv(frame, truth_dir / f"{name}.csv")
    meta = {
        "as_of": world.as_of.date().isoformat(),
        "seed": world.seed,
        "params": dataclasses.asdict(world.params),
        "partners": len(world.tables["partners"]),
        "quarters": world.quarters,
        "start": world.start,
        "played": [
            {
                "quarter_start": (
                    pd.Timestamp(world.start) + pd.DateOffset(months=3 * (world.quarters + i))
                )
                .date()
                .isoformat(),
                "seed": p.seed,
            }
            for i, p in enumerate(world.played)
        ],
    }
    text = json.dumps(meta, indent=2, default=str)
    write_bytes_atomically(text.encode("utf-8"), truth_dir / "world.json")
    log.info("wrote world to %s", out)


def world_dataset(world: World) -> Dataset:
    """The world's tables as a loaded :class:`Dataset`, as if read from its folder (no files)."""
    from features.data import TABLES, Dataset
    from features.data.reader import coerce_table

    frames = {t: coerce_table(t, world.tables[t]).frame for t in TABLES}
    return Dataset(**frames, present=frozenset(TABLES))


def world_summary(world: World) -> dict[str, object]:
    """Summary statistics of ``world`` (rows, mix, revenue, incentives, confounding, oracle)."""
    return summarize(world.tables, world.truth, world.as_of)
