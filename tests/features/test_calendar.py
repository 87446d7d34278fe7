"""Quarter calendar: calendar and fiscal quarters, boundaries, leap days, labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.calendar import QuarterCalendar

CAL = QuarterCalendar()
FEB = QuarterCalendar(fy_start_month=2)


@pytest.mark.parametrize(
    ("day", "start", "end", "label"),
    [
        ("2025-01-01", "2025-01-01", "2025-03-31", "2025-Q1"),
        ("2025-03-31", "2025-01-01", "2025-03-31", "2025-Q1"),
        ("2025-04-01", "2025-04-01", "2025-06-30", "2025-Q2"),
        ("2024-02-29", "2024-01-01", "2024-03-31", "2024-Q1"),
        ("2025-12-31", "2025-10-01", "2025-12-31", "2025-Q4"),
    ],
)
def test_calendar_quarters(day: str, start: str, end: str, label: str) -> None:
    assert CAL.quarter_start(day) == pd.Timestamp(start)
    assert CAL.quarter_end(day) == pd.Timestamp(end)
    assert CAL.label(day) == label


@pytest.mark.parametrize(
    ("day", "start", "end", "fq", "fy", "label"),
    [
        # FY2026 runs 2025-02-01 .. 2026-01-31 and is named after the year it ends in.
        ("2025-02-01", "2025-02-01", "2025-04-30", 1, 2026, "FY2026-Q1"),
        ("2025-01-31", "2024-11-01", "2025-01-31", 4, 2025, "FY2025-Q4"),
        ("2024-02-29", "2024-02-01", "2024-04-30", 1, 2025, "FY2025-Q1"),
        ("2026-01-31", "2025-11-01", "2026-01-31", 4, 2026, "FY2026-Q4"),
        ("2025-07-31", "2025-05-01", "2025-07-31", 2, 2026, "FY2026-Q2"),
        ("2025-08-01", "2025-08-01", "2025-10-31", 3, 2026, "FY2026-Q3"),
    ],
)
def test_fiscal_year_starting_in_february(
    day: str, start: str, end: str, fq: int, fy: int, label: str
) -> None:
    assert FEB.quarter_start(day) == pd.Timestamp(start)
    assert FEB.quarter_end(day) == pd.Timestamp(end)
    assert FEB.fiscal_quarter(day) == fq
    assert FEB.fiscal_year(day) == fy
    assert FEB.label(day) == label


def test_fiscal_year_start() -> None:
    assert FEB.fiscal_year_start("2025-01-15") == pd.Timestamp("2024-02-01")
    assert FEB.fiscal_year_start("2025-02-01") == pd.Timestamp("2025-02-01")
    assert CAL.fiscal_year_start("2025-06-30") == pd.Timestamp("2025-01-01")


def test_horizon_is_the_hth_quarter_starting_after_as_of() -> None:
    assert list(CAL.horizon_starts("2025-03-31", 2)) == [
        pd.Timestamp("2025-04-01"),
        pd.Timestamp("2025-07-01"),
    ]
    # A quarter that starts on the as-of date itself does not start *after* it.
    assert CAL.horizon_starts("2025-04-01", 1)[0] == pd.Timestamp("2025-07-01")
    assert FEB.horizon_starts("2025-12-15", 1)[0] == pd.Timestamp("2026-02-01")
    with pytest.raises(ValueError, match="horizon"):
        CAL.horizon_starts("2025-01-01", 0)


def test_series_in_series_out_keeps_index_and_truncates_times() -> None:
    days = pd.Series(pd.to_datetime(["2025-03-31 23:59:59", "2025-04-01 00:00:01"]), index=[10, 20])
    starts = CAL.quarter_start(days)
    assert isinstance(starts, pd.Series)
    assert list(starts.index) == [10, 20]
    assert list(starts) == [pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-01")]
    assert list(CAL.label(days)) == ["2025-Q1", "2025-Q2"]


def test_quarter_index_is_consecutive_and_round_trips() -> None:
    starts = CAL.quarter_starts_between("2023-11-15", "2025-02-01")
    assert list(starts.strftime("%Y-%m-%d")) == [
        "2023-10-01",
        "2024-01-01",
        "2024-04-01",
        "2024-07-01",
        "2024-10-01",
        "2025-01-01",
    ]
    idx = CAL.quarter_index(starts)
    assert np.array_equal(np.diff(idx), np.ones(len(idx) - 1))
    assert (CAL.index_to_start(idx) == starts).all()


@pytest.mark.parametrize("bad", [0, 13, -1, 1.5])
def test_bad_fiscal_start_month_is_refused(bad) -> None:
    with pytest.raises(ValueError, match="1 to 12"):
        QuarterCalendar(fy_start_month=bad)


def test_missing_date_is_refused() -> None:
    with pytest.raises(ValueError, match="missing date"):
        CAL.quarter_start(pd.Series([pd.Timestamp("2025-01-01"), pd.NaT]))


@given(
    day=st.dates(
        min_value=pd.Timestamp("1990-01-01").date(), max_value=pd.Timestamp("2100-12-31").date()
    ),
    month=st.integers(min_value=1, max_value=12),
)
def test_every_day_lies_in_its_quarter(day, month) -> None:
    cal = QuarterCalendar(fy_start_month=month)
    ts = pd.Timestamp(day)
    start, end = cal.quarter_start(ts), cal.quarter_end(ts)
    assert start <= ts <= end
    assert (start.month - month) % 3 == 0 and start.day == 1
    assert cal.index_to_start(cal.quarter_index(ts)) == start
    assert cal.quarter_start(end + pd.Timedelta(days=1)) == end + pd.Timedelta(days=1)
    # fiscal quarter 1 starts in the fiscal year's first month
    assert (cal.fiscal_quarter(start) == 1) == (start.month == month)
    assert cal.fiscal_year_start(ts) <= start
