"""Frames from simulation arrays, and files from frames.

Strings are built and gathered with pyarrow (millions of ids in well under a
second); dates are whole days stored as ``datetime64[ns]``, the dtype the loader
produces. Files are CSV with ISO dates and empty cells for missing values, each
written to a temporary file in the same folder and moved into place, so an
interrupted write never leaves a half file under the final name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from features.data import write_file_atomically

log = logging.getLogger(__name__)


def make_ids(prefix: str, n: int, min_width: int) -> pa.Array:
    """``P00001``-style ids, numbered from 1, zero-padded to at least ``min_width`` digits."""
    width = max(min_width, len(str(n)))
    digits = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, width, "0"), "")


def take_strings(values: pa.Array | Sequence[str], index: np.ndarray) -> pd.Series:
    """``values[index]`` as a pandas string Series; a negative index gives a missing value."""
    if not isinstance(values, pa.Array):
        values = pa.array(list(values), type=pa.string())
    index = np.asarray(index, dtype=np.int64)
    missing = index < 0
    picked = values.take(pa.array(np.where(missing, 0, index), mask=missing))
    return pd.Series(pd.arrays.ArrowStringArray(picked.cast(pa.large_string())))


def strings(values: np.ndarray) -> pd.Series:
    """An object/str array as a pandas string Series."""
    return pd.Series(np.asarray(values, dtype=object), dtype="string")


def to_dates(days: np.ndarray) -> pd.Series:
    """Day numbers (days since 1970-01-01; int64 minimum = missing) as datetime64[ns]."""
    return pd.Series(np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("M8[ns]"))


def to_days(dates: pd.DatetimeIndex | pd.Series | pd.Timestamp) -> np.ndarray:
    """Datetimes as day numbers (days since 1970-01-01)."""
    return np.asarray(
        pd.DatetimeIndex(np.atleast_1d(dates)).values.astype("datetime64[D]"), dtype=np.int64
    )


def renumber_ids(values: pd.Series, prefix: str, offset: int, min_width: int) -> pd.Series:
    """``P00007``-style ids shifted by ``offset`` (``P00007`` + 100 = ``P00107``), zero-padded
    to at least ``min_width`` digits: a chunk of a world drawn in parts gets ids that follow
    the chunks before it. Missing values stay missing."""
    number = pc.cast(
        pc.utf8_slice_codeunits(pa.array(values, type=pa.string()), len(prefix)), pa.int64()
    )
    shifted = pc.add(number, offset)
    width = max(min_width, len(str(pc.max(shifted).as_py() or 0)))
    padded = pc.utf8_lpad(shifted.cast(pa.string()), width, "0")
    joined = pc.binary_join_element_wise(prefix, padded, "")
    return pd.Series(pd.arrays.ArrowStringArray(joined.cast(pa.large_string())), index=values.index)


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table with dates as dates (what a CSV or Parquet file holds)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.date32()))
        elif pa.types.is_large_string(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.string()))
    return table


def write_frame_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as CSV: ISO dates, empty cells for missing, atomically."""
    table = _arrow_table(frame)
    write_file_atomically(path, lambda handle: pa_csv.write_csv(table, handle))
    log.debug("wrote %s (%d rows)", path, len(frame))


def write_frame_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as Parquet (dates as dates), atomically."""
    table = _arrow_table(frame)
    write_file_atomically(path, lambda handle: pq.write_table(table, handle))
    log.debug("wrote %s (%d rows)", path, len(frame))


class CsvAppender:
    """One CSV file per name under a folder, written chunk by chunk (header once): a big
    world's ground truth without holding it whole. Close it to finish the files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._writers: dict[str, tuple[BinaryIO, pa_csv.CSVWriter, pa.Schema]] = {}

    def append(self, name: str, frame: pd.DataFrame) -> None:
        table = _arrow_table(frame)
        if name not in self._writers:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = (self.folder / f"{name}.csv").open("wb")
            writer = pa_csv.CSVWriter(handle, table.schema)
            self._writers[name] = (handle, writer, table.schema)
        _, writer, schema = self._writers[name]
        writer.write_table(table.cast(schema))

    def close(self) -> None:
        for handle, writer, _ in self._writers.values():
            writer.close()
            handle.close()
        self._writers.clear()
