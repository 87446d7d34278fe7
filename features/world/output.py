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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

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


def write_frame_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` as CSV: ISO dates, empty cells for missing, atomically."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.date32()))
    write_file_atomically(path, lambda handle: pa_csv.write_csv(table, handle))
    log.debug("wrote %s (%d rows)", path, len(frame))
