"""A world drawn and written in parts (issue 20): Parquet parts read as the same dataset as
one file per table, ids that run on across parts, and one part that is the plain world."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.data import TABLES, load_dataset
from features.world.simulate import (
    default_parts,
    simulate_world,
    simulate_world_parts,
    write_world,
    write_world_in_parts,
)

PARTNERS, QUARTERS, SEED = 240, 6, 3


def assert_same_dataset(left: Path, right: Path) -> None:
    a, b = load_dataset(left), load_dataset(right)
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), obj=table)


@pytest.fixture(scope="module")
def parts_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "parts"
    write_world_in_parts(out, partners=PARTNERS, quarters=QUARTERS, seed=SEED, parts=3)
    return out


def test_one_part_is_the_plain_world_in_parquet(tmp_path: Path) -> None:
    write_world(simulate_world(PARTNERS, QUARTERS, seed=SEED), tmp_path / "single")
    write_world_in_parts(tmp_path / "one", partners=PARTNERS, quarters=QUARTERS, seed=SEED, parts=1)
    assert sorted(p.name for p in (tmp_path / "one" / "bookings").iterdir()) == [
        "part-00000.parquet"
    ]
    assert_same_dataset(tmp_path / "single", tmp_path / "one")


def test_parts_read_as_the_same_dataset_as_one_csv_per_table(
    parts_folder: Path, tmp_path: Path
) -> None:
    write_world_in_parts(
        tmp_path, partners=PARTNERS, quarters=QUARTERS, seed=SEED, parts=3, as_csv=True
    )
    assert (tmp_path / "bookings.csv").is_file()
    assert len(list((parts_folder / "bookings").glob("part-*.parquet"))) == 3
    assert_same_dataset(parts_folder, tmp_path)


def test_ids_run_on_across_parts(parts_folder: Path) -> None:
    ds = load_dataset(parts_folder)
    ids = ds.partners["partner_id"].tolist()
    assert ids == [f"P{i:05d}" for i in range(1, PARTNERS + 1)]
    opportunities = ds.opportunities["opportunity_id"]
    assert opportunities.is_unique
    assert ds.bookings["opportunity_id"].dropna().isin(opportunities).all()
    for table in ("bookings", "opportunities", "activities", "incentives"):
        assert getattr(ds, table)["partner_id"].isin(ids).all(), table
    # the ground truth follows the same ids, one row per partner
    truth = pd.read_csv(parts_folder / "_truth" / "partners.csv")
    assert truth["partner_id"].tolist() == ids
    meta = json.loads((parts_folder / "_truth" / "world.json").read_text())
    assert (meta["partners"], meta["parts"], meta["part_seeds"][0]) == (PARTNERS, 3, SEED)


def test_parts_are_drawn_one_at_a_time_with_their_own_streams() -> None:
    parts = simulate_world_parts(PARTNERS, QUARTERS, seed=SEED, parts=2)
    first = next(parts)  # a generator: the second part is not drawn yet
    assert len(first.tables["partners"]) == PARTNERS // 2
    second = next(parts)
    assert second.tables["partners"]["partner_id"].iloc[0] == f"P{PARTNERS // 2 + 1:05d}"
    # a different stream, not the first part again under other ids
    sizes = [w.truth["partners"]["size"].to_numpy() for w in (first, second)]
    assert not np.allclose(sizes[0][:10], sizes[1][:10])
    with pytest.raises(ValueError, match="parts must be between 1 and the partners"):
        next(simulate_world_parts(5, QUARTERS, seed=SEED, parts=6))


def test_default_parts_split_only_big_worlds() -> None:
    assert default_parts(2_000) == 1
    assert default_parts(200_000) == 1
    assert default_parts(200_001) == 3
    assert default_parts(1_000_000) == 10
