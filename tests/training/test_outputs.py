"""Result files are whole or absent; the dataset digest follows the tables' bytes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.data import write_csv_atomically, write_folder_atomically
from training.jobs.lineage import dataset_digest


class _Boom(Exception):
    pass


def test_a_failed_write_leaves_the_previous_file_and_no_temporaries(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv_atomically(pd.DataFrame({"a": [1, 2]}), path)

    class Exploding(pd.DataFrame):
        def to_csv(self, *args, **kwargs):
            raise _Boom("disk full")

    with pytest.raises(_Boom):
        write_csv_atomically(Exploding({"a": [3]}), path)
    assert pd.read_csv(path)["a"].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_dates_are_written_as_days(tmp_path: Path) -> None:
    path = write_csv_atomically(
        pd.DataFrame({"quarter_start": pd.to_datetime(["2026-01-01"])}), tmp_path / "d.csv"
    )
    assert path.read_text(encoding="utf-8").splitlines() == ["quarter_start", "2026-01-01"]


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "data"
    write_folder_atomically(out, lambda d: (d / "x.csv").write_text("old", encoding="utf-8"))

    def half(d: Path) -> None:
        (d / "x.csv").write_text("new", encoding="utf-8")
        raise _Boom("interrupted")

    with pytest.raises(_Boom):
        write_folder_atomically(out, half)
    assert (out / "x.csv").read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_digest_covers_table_bytes_only(tmp_path: Path) -> None:
    (tmp_path / "partners.csv").write_text("partner_id,joined_on\nP1,2024-01-01\n", "utf-8")
    (tmp_path / "bookings.csv").write_text("partner_id,booked_on,amount\n", "utf-8")
    first = dataset_digest(tmp_path)
    (tmp_path / "_truth").mkdir()
    (tmp_path / "_truth" / "revenue.csv").write_text("x", "utf-8")
    (tmp_path / "notes.txt").write_text("ignored", "utf-8")
    assert dataset_digest(tmp_path) == first
    (tmp_path / "bookings.csv").write_text(
        "partner_id,booked_on,amount\nP1,2024-01-02,5\n", "utf-8"
    )
    assert dataset_digest(tmp_path) != first


def test_digest_covers_parquet_parts_and_not_targets(tmp_path: Path) -> None:
    (tmp_path / "partners.csv").write_text("partner_id,joined_on\nP1,2024-01-01\n", "utf-8")
    (tmp_path / "bookings").mkdir()
    part = tmp_path / "bookings" / "part-00000.parquet"
    pd.DataFrame({"partner_id": ["P1"], "booked_on": ["2024-01-02"], "amount": [5.0]}).to_parquet(
        part
    )
    first = dataset_digest(tmp_path)
    (tmp_path / "targets.csv").write_text("quarter_start,level,key,target\n", "utf-8")
    assert dataset_digest(tmp_path) == first  # plans are not what a model learns from
    pd.DataFrame({"partner_id": ["P1"], "booked_on": ["2024-01-02"], "amount": [6.0]}).to_parquet(
        part
    )
    assert dataset_digest(tmp_path) != first
