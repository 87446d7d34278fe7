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
from collections.abc import Iterator
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
from features.world.output import (
    CsvAppender,
    make_ids,
    renumber_ids,
    to_days,
    write_frame_csv,
    write_frame_parquet,
)
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
    "write_world_in_parts",
]

PARTS_ABOVE = 200_000
"""Worlds of more partners are drawn and written in parts by default (``default_parts``)."""
PARTNERS_PER_PART = 100_000
"""Partners per part when the number of parts is the default: drawing and writing the
12-quarter demo world of 50,000 partners peaks at 1.45 GiB, so a part of 100,000 at about
3 GiB, whatever the number of parts."""

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


def default_parts(partners: int) -> int:
    """1 up to :data:`PARTS_ABOVE` partners, else one part per :data:`PARTNERS_PER_PART`."""
    return 1 if partners <= PARTS_ABOVE else -(-partners // PARTNERS_PER_PART)


def part_seed(seed: int, part: int) -> int:
    """Part 0 draws with ``seed`` itself (one part is the world of ``simulate_world``); the
    others with independent streams spawned from it."""
    if part == 0:
        return seed
    return int(np.random.SeedSequence([seed, part]).generate_state(1, dtype=np.uint64)[0] >> 1)


def simulate_world_parts(
    partners: int,
    quarters: int = 20,
    seed: int = 42,
    parts: int = 1,
    start: str = "2021-01-01",
    params: WorldParams | None = None,
) -> Iterator[World]:
    """The world of ``partners`` partners drawn as ``parts`` worlds of about equal size,
    one at a time (never all partners in one process's memory at once), with ids that run
    on across parts: ``P...`` partner and ``O...`` opportunity numbers continue from the
    part before, so the parts together are one dataset.

    A part is a world of its own: partners interact only through statistics of their own
    part (tiers are cut at the part's size ranks, sizes standardised within it), which
    with tens of thousands of partners per part are the population's up to sampling noise.
    So a world drawn in K parts is its own world, the same for the same ``(partners,
    quarters, seed, parts)``; one part is exactly ``simulate_world``'s.
    """
    if parts < 1 or parts > partners:
        raise ValueError(f"parts must be between 1 and the partners ({partners}), got {parts}")
    sizes = [len(a) for a in np.array_split(np.arange(partners), parts)]
    width = max(5, len(str(partners)))
    first_partner = first_opportunity = 0
    for part, size in enumerate(sizes):
        began = time.perf_counter()
        world = simulate_world(
            partners=size,
            quarters=quarters,
            seed=part_seed(seed, part),
            start=start,
            params=params,
        )
        if parts > 1:
            world = _renumbered(world, first_partner, first_opportunity, width)
        log.info(
            "part %d/%d: partners %d-%d drawn in %.1fs",
            part + 1,
            parts,
            first_partner + 1,
            first_partner + size,
            time.perf_counter() - began,
        )
        first_partner += size
        first_opportunity += len(world.tables["opportunities"])
        yield world
        del world  # the next part is drawn without this one in memory


def _renumbered(world: World, first_partner: int, first_opportunity: int, width: int) -> World:
    def shift(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy(deep=False)
        if "partner_id" in out.columns:
            out["partner_id"] = renumber_ids(out["partner_id"], "P", first_partner, width)
        if "opportunity_id" in out.columns:
            out["opportunity_id"] = renumber_ids(out["opportunity_id"], "O", first_opportunity, 7)
        return out

    return dataclasses.replace(
        world,
        tables={name: shift(frame) for name, frame in world.tables.items()},
        truth={name: shift(frame) for name, frame in world.truth.items()},
    )


def write_world_in_parts(
    out: Path,
    *,
    partners: int,
    quarters: int,
    seed: int,
    parts: int,
    params: WorldParams | None = None,
    start: str = "2021-01-01",
    as_csv: bool = False,
) -> dict[str, object]:
    """Draw the world of :func:`simulate_world_parts` part by part and write each part as
    it comes: ``out/<table>/part-<k>.parquet`` (one part per drawn part; or, with
    ``as_csv``, each table's rows appended to ``out/<table>.csv``: the same dataset as one
    file per table), the ground truth appended to ``out/_truth/<name>.csv``, and
    ``_truth/world.json``. Returns the rows written per table, partners and parts.

    Files are written in place: give a fresh folder (the CLI writes into a temporary
    folder and moves it into place whole)."""
    out = Path(out)
    truth = CsvAppender(out / "_truth")
    tables = CsvAppender(out) if as_csv else None
    rows: dict[str, int] = {}
    drawn: dict[str, object] = {}
    try:
        for part, world in enumerate(
            simulate_world_parts(
                partners, quarters, seed=seed, parts=parts, start=start, params=params
            )
        ):
            for name, frame in world.tables.items():
                if tables is not None:
                    tables.append(name, frame)
                else:
                    write_frame_parquet(frame, out / name / f"part-{part:05d}.parquet")
                rows[name] = rows.get(name, 0) + len(frame)
            for name, frame in world.truth.items():
                truth.append(name, frame)
            drawn = {
                "as_of": world.as_of.date().isoformat(),
                "params": dataclasses.asdict(world.params),
                "start": world.start,
            }
            del world, frame  # written: not held while the next part is drawn
    finally:
        truth.close()
        if tables is not None:
            tables.close()
    meta = {
        "as_of": drawn["as_of"],
        "seed": seed,
        "params": drawn["params"],
        "partners": partners,
        "quarters": quarters,
        "start": drawn["start"],
        "parts": parts,
        "part_seeds": [part_seed(seed, k) for k in range(parts)],
        "played": [],
    }
    text = json.dumps(meta, indent=2, default=str)
    write_bytes_atomically(text.encode("utf-8"), out / "_truth" / "world.json")
    log.info("wrote a %d-part world to %s", parts, out)
    return {"partners": partners, "parts": parts, **{f"{t}_rows": n for t, n in rows.items()}}


def world_dataset(world: World) -> Dataset:
    """The world's tables as a loaded :class:`Dataset`, as if read from its folder (no files)."""
    from features.data import TABLES, Dataset
    from features.data.reader import coerce_table

    frames = {t: coerce_table(t, world.tables[t]).frame for t in TABLES}
    return Dataset(**frames, present=frozenset(TABLES))


def world_summary(world: World) -> dict[str, object]:
    """Summary statistics of ``world`` (rows, mix, revenue, incentives, confounding, oracle)."""
    return summarize(world.tables, world.truth, world.as_of)
