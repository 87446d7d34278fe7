"""The quarter calendar every part of partnercast uses.

Quarters are calendar quarters unless the fiscal year starts in another month
(1-12). A quarter is identified three ways:

- ``quarter_start``: the first day of the quarter (a Timestamp), the key used in
  frames and output files;
- ``quarter_index``: an integer that grows by one per quarter, so lags and
  horizons are plain arithmetic;
- a label such as ``2025-Q2`` (calendar) or ``FY2026-Q1`` (fiscal), for people.

A fiscal year is named after the calendar year in which it ends: with a fiscal
year starting in February, 2025-02-01 .. 2026-01-31 is ``FY2026``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np
import pandas as pd

DateLike = str | pd.Timestamp | np.datetime64


def _months(dates: pd.DatetimeIndex) -> np.ndarray:
    """Months since year 0 (year * 12 + month - 1), as int64."""
    return dates.year.to_numpy(dtype=np.int64) * 12 + dates.month.to_numpy(dtype=np.int64) - 1


def _from_months(months: np.ndarray) -> pd.DatetimeIndex:
    years, month0 = np.divmod(np.asarray(months, dtype=np.int64), 12)
    return (
        pd.to_datetime(pd.DataFrame({"year": years, "month": month0 + 1, "day": 1}))
        .pipe(pd.DatetimeIndex)
        .astype("datetime64[ns]")
    )


@dataclass(frozen=True)
class QuarterCalendar:
    """Quarters aligned to the fiscal year's first month (1 = calendar quarters)."""

    fy_start_month: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.fy_start_month, int) or not 1 <= self.fy_start_month <= 12:
            raise ValueError(
                f"fiscal year start month must be a whole number from 1 to 12, "
                f"got {self.fy_start_month!r}"
            )

    # -- vectorised core -------------------------------------------------------
    def _quarter_months(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Month number (see ``_months``) of the first month of each date's quarter."""
        months = _months(dates)
        return months - (months - (self.fy_start_month - 1)) % 3

    @overload
    def quarter_index(self, dates: DateLike) -> int: ...
    @overload
    def quarter_index(self, dates: pd.Series | pd.DatetimeIndex) -> np.ndarray: ...
    def quarter_index(self, dates):
        """Integer id of each date's quarter; consecutive quarters differ by one."""
        idx, scalar = _as_index(dates)
        out = (self._quarter_months(idx) - (self.fy_start_month - 1)) // 3
        return int(out[0]) if scalar else out

    def index_to_start(self, index: int | np.ndarray) -> pd.Timestamp | pd.DatetimeIndex:
        """First day of the quarter with the given ``quarter_index``."""
        arr = np.atleast_1d(np.asarray(index, dtype=np.int64))
        starts = _from_months(arr * 3 + (self.fy_start_month - 1))
        return starts[0] if np.ndim(index) == 0 else starts

    def quarter_start(self, dates):
        """First day of each date's quarter (same shape as the input)."""
        idx, scalar = _as_index(dates)
        starts = _from_months(self._quarter_months(idx))
        return _like(dates, starts, scalar)

    def quarter_end(self, dates):
        """Last day of each date's quarter (same shape as the input)."""
        idx, scalar = _as_index(dates)
        ends = _from_months(self._quarter_months(idx) + 3) - pd.Timedelta(days=1)
        return _like(dates, ends, scalar)

    def fiscal_quarter(self, dates):
        """Quarter of the fiscal year, 1..4."""
        idx, scalar = _as_index(dates)
        q = ((_months(idx) - (self.fy_start_month - 1)) % 12) // 3 + 1
        return int(q[0]) if scalar else _like(dates, q, scalar)

    def fiscal_year(self, dates):
        """Fiscal year, named by the calendar year in which it ends."""
        idx, scalar = _as_index(dates)
        start_of_fy = _months(idx) - (_months(idx) - (self.fy_start_month - 1)) % 12
        fy = start_of_fy // 12 + (1 if self.fy_start_month > 1 else 0)
        return int(fy[0]) if scalar else _like(dates, fy, scalar)

    def fiscal_year_start(self, dates):
        """First day of each date's fiscal year."""
        idx, scalar = _as_index(dates)
        months = _months(idx)
        starts = _from_months(months - (months - (self.fy_start_month - 1)) % 12)
        return _like(dates, starts, scalar)

    def label(self, dates):
        """``2025-Q2`` for calendar quarters, ``FY2026-Q1`` for a fiscal calendar."""
        idx, scalar = _as_index(dates)
        fy = np.atleast_1d(self.fiscal_year(idx))
        fq = np.atleast_1d(self.fiscal_quarter(idx))
        prefix = "FY" if self.fy_start_month > 1 else ""
        labels = [f"{prefix}{y}-Q{q}" for y, q in zip(fy, fq, strict=True)]
        return labels[0] if scalar else _like(dates, np.array(labels, dtype=object), scalar)

    # -- day-array helpers (numpy datetime64[D], no pandas overhead) -------------
    def quarter_index_days(self, days: np.ndarray) -> np.ndarray:
        """``quarter_index`` of a ``datetime64[D]`` array, vectorised for millions of rows."""
        months = np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return (months + 1970 * 12 - (self.fy_start_month - 1)) // 3

    def start_days(self, index: np.ndarray | int) -> np.ndarray:
        """First day (``datetime64[D]``) of each quarter index."""
        months = np.asarray(index, dtype=np.int64) * 3 + (self.fy_start_month - 1) - 1970 * 12
        return months.astype("datetime64[M]").astype("datetime64[D]")

    def end_days(self, index: np.ndarray | int) -> np.ndarray:
        """Last day (``datetime64[D]``) of each quarter index."""
        return self.start_days(np.asarray(index, dtype=np.int64) + 1) - np.timedelta64(1, "D")

    # -- planning helpers ------------------------------------------------------
    def horizon_starts(self, as_of: DateLike, horizon: int) -> pd.DatetimeIndex:
        """Starts of the quarters at horizons 1..``horizon`` after ``as_of``.

        Horizon ``h`` is the h-th quarter that starts strictly after ``as_of``.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        current = self.quarter_index(pd.Timestamp(as_of))
        return self.index_to_start(np.arange(current + 1, current + 1 + horizon))

    def quarter_starts_between(self, first: DateLike, last: DateLike) -> pd.DatetimeIndex:
        """Starts of every quarter that overlaps ``first`` .. ``last`` (inclusive)."""
        lo, hi = self.quarter_index(pd.Timestamp(first)), self.quarter_index(pd.Timestamp(last))
        return self.index_to_start(np.arange(lo, hi + 1))


def _as_index(dates) -> tuple[pd.DatetimeIndex, bool]:
    """Dates as a normalised DatetimeIndex, and whether the input was a scalar."""
    scalar = np.ndim(dates) == 0 and not isinstance(dates, pd.Series | pd.Index)
    values = [dates] if scalar else dates
    idx = pd.DatetimeIndex(pd.to_datetime(values)).normalize()
    if idx.hasnans:
        raise ValueError("quarter calendar got a missing date")
    return idx, scalar


def _like(template, values, scalar: bool):
    """Return ``values`` shaped like ``template``: scalar, Series (same index) or array/Index."""
    if scalar:
        return values[0]
    if isinstance(template, pd.Series):
        return pd.Series(np.asarray(values), index=template.index, name=template.name)
    return values
