"""Contract tables read directly from the data folder, and the quarterly revenue series.

The series follow the contract's definition of revenue (DATA_CONTRACT.md, "Time"): the sum of
``bookings.amount`` per partner and quarter, 0 for a quarter without bookings while the partner
exists, from the quarter of ``joined_on`` on. Quarters are integer indices (``year * 4 +
quarter``) of the fiscal calendar, so the peers need no pandas frequency string.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def read_table(folder: Path, table: str) -> pd.DataFrame:
    """``<table>.csv`` or ``<table>.parquet`` (names case-insensitive), columns lower-cased."""
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if name == f"{table}.parquet":
            frame = pd.read_parquet(path)
            break
        if name == f"{table}.csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            break
    else:
        raise FileNotFoundError(f"no {table}.csv or {table}.parquet in {folder}")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def as_days(values: pd.Series) -> pd.Series:
    """Dates as written (a timestamp is truncated to its date, no time-zone conversion)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dt.tz_localize(None).dt.normalize() if values.dt.tz else values.dt.normalize()
    return pd.to_datetime(values.astype(str).str.strip().str[:10], format="%Y-%m-%d")


def quarter_index(days: pd.Series, fy_start_month: int) -> np.ndarray:
    """Integer fiscal-quarter index of each date (consecutive quarters differ by 1)."""
    months = days.dt.year.to_numpy() * 12 + days.dt.month.to_numpy() - 1
    return (months - (fy_start_month - 1) % 3) // 3


def quarter_start(index: np.ndarray, fy_start_month: int) -> pd.DatetimeIndex:
    """First day of each quarter index (inverse of :func:`quarter_index`)."""
    months = np.asarray(index) * 3 + (fy_start_month - 1) % 3
    return pd.to_datetime(
        {"year": months // 12, "month": months % 12 + 1, "day": np.ones(len(months), int)}
    )


def revenue_series(folder: Path, fy_start_month: int) -> pd.DataFrame:
    """Columns ``unique_id, ds, y`` (+ partner attributes): every partner-quarter from the
    partner's joining quarter to the last quarter with a booking, zero-filled."""
    partners = read_table(folder, "partners")
    bookings = read_table(folder, "bookings")
    partners["partner_id"] = partners["partner_id"].astype(str).str.strip()
    bookings["partner_id"] = bookings["partner_id"].astype(str).str.strip()
    join_q = pd.Series(
        quarter_index(as_days(partners["joined_on"]), fy_start_month),
        index=partners["partner_id"],
    )
    q = quarter_index(as_days(bookings["booked_on"]), fy_start_month)
    amount = pd.to_numeric(bookings["amount"]).to_numpy(dtype=np.float64)
    sums = (
        pd.DataFrame({"unique_id": bookings["partner_id"], "ds": q, "y": amount})
        .groupby(["unique_id", "ds"], as_index=False)["y"]
        .sum()
    )
    last_q = int(q.max())
    lengths = np.maximum(last_q - join_q.to_numpy() + 1, 0)
    grid = pd.DataFrame(
        {
            "unique_id": np.repeat(join_q.index.to_numpy(), lengths),
            "ds": np.concatenate([np.arange(j, last_q + 1) for j in join_q.to_numpy()]),
        }
    )
    grid = grid.merge(sums, on=["unique_id", "ds"], how="left").fillna({"y": 0.0})
    for col in ("tier", "partner_type", "region"):
        values = partners[col] if col in partners else pd.Series("unknown", index=partners.index)
        attr = values.astype(str).replace({"": "unknown", "nan": "unknown", "None": "unknown"})
        grid[col] = grid["unique_id"].map(dict(zip(partners["partner_id"], attr, strict=True)))
        grid[col] = grid[col].astype("category")
    return grid.sort_values(["unique_id", "ds"], ignore_index=True)
