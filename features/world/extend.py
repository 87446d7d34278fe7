"""Extending a written world by quarters played under a plan: ``extend_world``.

The closing step of a holdout test on a synthetic world (docs/experiments.md): plan the
quarter on the data (``experiment-plan``), then let the world play it with its own truth
and read the result as a channel team would. ``extend_world`` reads the world's
``_truth/world.json`` (seed, parameters, size), simulates it again with the quarters
already played (their decisions are in ``_truth/assignments.csv``) plus the new ones
(:mod:`features.world.forward`), checks that the tables up to the old as-of date come out
as they are on disk, and writes the longer world.

Decisions are a frame or CSV with ``partner_id`` and the decision in ``arm`` (a plan from
``experiment-plan``) or ``incentive`` (``recommend``'s output, or ``incentives`` rows),
plus ``randomized`` (default false). Partners not listed get ``none``; a listed partner
that has churned out by the quarter gets ``none`` too. The same world, decisions and seed
always give the same extension.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.data import BadInput, write_folder_atomically
from features.names import NONE
from features.world.forward import PlayedQuarter, playable
from features.world.params import IncentiveSpec, WorldParams
from features.world.simulate import World, simulate_world, write_world

log = logging.getLogger(__name__)

DECISION_COLUMNS = ("arm", "incentive")
"""Where a decisions table may hold each partner's choice, in this order of preference."""


def params_from_dict(raw: dict) -> WorldParams:
    """The :class:`WorldParams` that ``dataclasses.asdict`` turned into ``raw`` (JSON)."""

    def restore(cls: type, values: dict) -> dict:
        out = {}
        for f in dataclasses.fields(cls):
            if f.name not in values:
                continue
            value = values[f.name]
            if isinstance(value, list):
                value = tuple(value)
            elif isinstance(value, dict) and f.name == "seasonality":
                value = {k: tuple(v) for k, v in value.items()}
            out[f.name] = value
        return out

    fields = restore(WorldParams, raw)
    fields["incentives"] = tuple(
        IncentiveSpec(**restore(IncentiveSpec, spec)) for spec in raw["incentives"]
    )
    return WorldParams(**fields)


def decisions_from_frame(
    frame: pd.DataFrame, partner_ids: list[str], names: tuple[str, ...], *, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """(assigned, randomized) arrays aligned with ``partner_ids`` from a decisions frame;
    :class:`BadInput` naming the column and rows when it cannot be read."""
    if "partner_id" not in frame.columns:
        raise BadInput(f"{source}: column partner_id is missing")
    column = next((c for c in DECISION_COLUMNS if c in frame.columns), None)
    if column is None:
        raise BadInput(f"{source}: needs a column arm or incentive with each partner's choice")
    ids = frame["partner_id"].astype(str)
    choice = frame[column].astype(str)
    codes = {NONE: 0} | {name: j + 1 for j, name in enumerate(names)}

    def rows(mask: pd.Series) -> str:
        lines = (np.flatnonzero(mask.to_numpy()) + 2).tolist()  # the header is line 1
        shown = ", ".join(map(str, lines[:10]))
        return shown + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")

    unknown = ~choice.isin(list(codes))
    if unknown.any():
        known = ", ".join(codes)
        raise BadInput(
            f"{source}: column {column} has values the world does not know "
            f"({', '.join(sorted(set(choice[unknown])))}; known: {known}) on lines {rows(unknown)}"
        )
    index = pd.Series(np.arange(len(partner_ids)), index=pd.Index(partner_ids))
    stranger = ~ids.isin(index.index)
    if stranger.any():
        lines = rows(stranger)
        raise BadInput(f"{source}: column partner_id has unknown partners on lines {lines}")
    twice = ids.duplicated(keep=False)
    if twice.any():
        raise BadInput(f"{source}: column partner_id repeats partners on lines {rows(twice)}")
    if "randomized" in frame.columns:
        flags = frame["randomized"].astype(str).str.strip().str.lower()
        bad = ~flags.isin(["true", "false", "1", "0"])
        if bad.any():
            raise BadInput(f"{source}: column randomized is not true/false on lines {rows(bad)}")
        drawn = flags.isin(["true", "1"]).to_numpy()
    else:
        drawn = np.zeros(len(frame), dtype=bool)
    assigned = np.zeros(len(partner_ids), dtype=np.int8)
    randomized = np.zeros(len(partner_ids), dtype=bool)
    at = index.loc[ids].to_numpy()
    assigned[at] = choice.map(codes).to_numpy()
    randomized[at] = drawn
    return assigned, randomized


def _read_meta(world_dir: Path) -> dict:
    path = world_dir / "_truth" / "world.json"
    if not path.exists():
        raise BadInput(
            f"{world_dir}: no _truth/world.json; only a world written by demo-data can be extended"
        )
    meta = json.loads(path.read_text())
    missing = [k for k in ("partners", "quarters", "start") if k not in meta]
    if missing:
        raise BadInput(
            f"{path}: written before worlds could be extended (no {', '.join(missing)}); "
            "write it again with demo-data"
        )
    return meta


def _played_before(world_dir: Path, meta: dict, ids: list[str], names: tuple[str, ...]):
    """The quarters already played, their decisions read back from the truth."""
    played = meta.get("played", [])
    if not played:
        return ()
    truth = pd.read_csv(world_dir / "_truth" / "assignments.csv", keep_default_na=False)
    out = []
    for entry in played:
        rows = truth[truth["quarter_start"] == entry["quarter_start"]]
        assigned, randomized = decisions_from_frame(
            rows, ids, names, source=f"_truth/assignments.csv {entry['quarter_start']}"
        )
        out.append(PlayedQuarter(assigned, randomized, int(entry["seed"])))
    return tuple(out)


def _check_prefix(world_dir: Path, world: World, old_as_of: pd.Timestamp) -> None:
    """The regenerated bookings up to the old as-of date are the ones on disk."""
    disk = pd.read_csv(world_dir / "bookings.csv", usecols=["booked_on", "amount"])
    disk = disk[pd.to_datetime(disk["booked_on"]) <= old_as_of]
    ours = world.tables["bookings"]
    ours = ours[ours["booked_on"] <= old_as_of]
    if len(disk) != len(ours) or not np.isclose(disk["amount"].sum(), ours["amount"].sum()):
        raise BadInput(
            f"{world_dir}: bookings.csv up to {old_as_of.date()} differ from the world its "
            "_truth/world.json describes (edited, or written by another version): cannot extend"
        )


def extend_world(
    world_dir: Path | str,
    decisions: pd.DataFrame | Path | str,
    *,
    quarters: int = 1,
    seed: int = 0,
    out: Path | str | None = None,
) -> World:
    """Play ``quarters`` more quarters of the world in ``world_dir`` under ``decisions``
    (the same decisions each quarter) and write it to ``out`` (default: in place).

    ``seed`` seeds the played quarters' draws (the first uses ``seed``, the next
    ``seed + 1``, ...). Returns the extended :class:`World`.
    """
    world_dir = Path(world_dir)
    if quarters < 1:
        raise BadInput(f"quarters must be at least 1, got {quarters}")
    meta = _read_meta(world_dir)
    params = params_from_dict(meta["params"])
    ids = pd.read_csv(world_dir / "partners.csv", usecols=["partner_id"])["partner_id"]
    ids = ids.astype(str).tolist()
    if len(ids) != meta["partners"]:
        raise BadInput(
            f"{world_dir}: partners.csv has {len(ids)} rows, the world {meta['partners']}"
        )
    names = params.incentive_names
    before = _played_before(world_dir, meta, ids, names)
    limit = playable(params)
    if len(before) + quarters > limit:
        raise BadInput(
            f"{world_dir}: {len(before)} quarters played already, {quarters} asked; this world "
            f"simulates enough of its future for at most {limit} in all"
        )
    if isinstance(decisions, pd.DataFrame):
        frame, source = decisions, "decisions"
    else:
        source = str(decisions)
        try:
            frame = pd.read_csv(decisions, dtype={"partner_id": str}, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BadInput(f"{source}: cannot read the decisions: {exc}") from exc
    assigned, randomized = decisions_from_frame(frame, ids, names, source=source)
    new = tuple(PlayedQuarter(assigned, randomized, seed + i) for i in range(quarters))
    world = simulate_world(
        partners=meta["partners"],
        quarters=meta["quarters"],
        seed=meta["seed"],
        start=meta["start"],
        params=params,
        played=before + new,
    )
    _check_prefix(world_dir, world, pd.Timestamp(meta["as_of"]))
    target = world_dir if out is None else Path(out)
    write_folder_atomically(target, lambda tmp: write_world(world, tmp))
    log.info(
        "extended %s from %s to %s (%d quarters played)",
        world_dir,
        meta["as_of"],
        world.as_of.date(),
        len(world.played),
    )
    return world
