"""The typed, validated dataset that every other part of partnercast works on.

``features.data.loader.load_dataset`` reads a folder laid out as in DATA_CONTRACT.md
and returns a :class:`Dataset` whose frames follow :data:`COLUMNS` exactly:
dates are ``datetime64[ns]`` truncated to the day, money and quantities are
``float64``, flags are ``bool``, text is pandas' string dtype, optional columns
are filled with their defaults, and extra columns are kept after the contract's
ones. An optional table that is absent is an empty frame with these columns, so
downstream code never has to branch on it (``Dataset.present`` says which
tables were really given).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from features.names import NONE

Kind = Literal["str", "date", "float", "bool"]


@dataclass(frozen=True)
class Column:
    """One contract column: its kind, whether it must be present, its fill value."""

    name: str
    kind: Kind
    required: bool
    default: object = None  # fill for missing optional values; None keeps them missing


TABLES: tuple[str, ...] = ("partners", "bookings", "opportunities", "activities", "incentives")
"""The fact tables: what happened. Models learn from these and nothing else."""
PLAN_TABLES: tuple[str, ...] = ("targets",)
"""Plans, not facts (revenue targets): read and validated like the others, never features."""
ALL_TABLES: tuple[str, ...] = (*TABLES, *PLAN_TABLES)
TARGET_LEVELS: tuple[str, ...] = ("partner", "region", "tier", "partner_type", "total")
REQUIRED_TABLES: tuple[str, ...] = ("partners", "bookings")
UNKNOWN = "unknown"

COLUMNS: dict[str, tuple[Column, ...]] = {
    "partners": (
        Column("partner_id", "str", True),
        Column("joined_on", "date", True),
        Column("tier", "str", False, UNKNOWN),
        Column("partner_type", "str", False, UNKNOWN),
        Column("region", "str", False, UNKNOWN),
        Column("country", "str", False, UNKNOWN),
        Column("industry", "str", False, UNKNOWN),
        Column("name", "str", False),  # missing names are filled with the partner_id
    ),
    "bookings": (
        Column("partner_id", "str", True),
        Column("booked_on", "date", True),
        Column("amount", "float", True),
        Column("product_line", "str", False, UNKNOWN),
        Column("opportunity_id", "str", False),
    ),
    "opportunities": (
        Column("opportunity_id", "str", True),
        Column("partner_id", "str", True),
        Column("created_on", "date", True),
        Column("closed_on", "date", True),  # the column is required; values are empty while open
        Column("status", "str", True),  # lower-cased: open | won | lost
        Column("amount", "float", True),
        Column("expected_close_on", "date", False),
        Column("registered", "bool", False, False),
        Column("product_line", "str", False, UNKNOWN),
    ),
    "activities": (
        Column("partner_id", "str", True),
        Column("occurred_on", "date", True),
        Column("activity", "str", True),
        Column("quantity", "float", False, 1.0),
        Column("amount", "float", False, 0.0),
    ),
    "incentives": (
        Column("partner_id", "str", True),
        Column("incentive", "str", True),
        Column("starts_on", "date", True),
        Column("ends_on", "date", True),
        Column("cost", "float", True),
        Column("randomized", "bool", False, False),
    ),
    "targets": (
        Column("quarter_start", "date", True),
        Column("level", "str", True),  # lower-cased: one of TARGET_LEVELS
        Column("key", "str", True),  # the column is required; empty for level total
        Column("target", "float", True),
    ),
}

DATE_COLUMNS: dict[str, str] = {
    "bookings": "booked_on",
    "opportunities": "created_on",
    "activities": "occurred_on",
    "incentives": "starts_on",
}
"""The column that dates each row of a table, for point-in-time filtering and summaries."""

_DTYPES: dict[Kind, str] = {
    "str": "string",
    "date": "datetime64[ns]",
    "float": "float64",
    "bool": "bool",
}


def dtype_of(column: Column) -> str:
    """The pandas dtype a loaded column has."""
    return _DTYPES[column.kind]


def is_holdout(incentives: pd.DataFrame) -> pd.Series:
    """Rows of ``incentives`` that record a decision to give nothing (``incentive`` is
    ``none``, any case): the control arm of a randomized test, never an incentive."""
    name = incentives["incentive"].astype("string").str.strip().str.lower()
    return name.eq(NONE).fillna(False).astype(bool)


def incentive_grants(incentives: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``incentives`` that grant an incentive (``none`` holdout rows dropped)."""
    return incentives.loc[~is_holdout(incentives).to_numpy()]


def empty_frame(table: str) -> pd.DataFrame:
    """A frame with no rows and exactly the contract's columns and dtypes."""
    return pd.DataFrame({c.name: pd.Series(dtype=dtype_of(c)) for c in COLUMNS[table]})


@dataclass(frozen=True)
class Dataset:
    """The contract tables, typed; absent optional tables are empty frames."""

    partners: pd.DataFrame
    bookings: pd.DataFrame
    opportunities: pd.DataFrame = field(default_factory=lambda: empty_frame("opportunities"))
    activities: pd.DataFrame = field(default_factory=lambda: empty_frame("activities"))
    incentives: pd.DataFrame = field(default_factory=lambda: empty_frame("incentives"))
    targets: pd.DataFrame = field(default_factory=lambda: empty_frame("targets"))
    present: frozenset[str] = frozenset(REQUIRED_TABLES)
    source: Path | None = None

    def table(self, name: str) -> pd.DataFrame:
        """The frame of a table by its contract name."""
        if name not in ALL_TABLES:
            raise KeyError(f"unknown table {name!r}; tables are {', '.join(ALL_TABLES)}")
        return getattr(self, name)

    @property
    def last_date(self) -> pd.Timestamp:
        """The latest date in any table: the default as-of date."""
        dates = [self.table(t)[col].max() for t, col in DATE_COLUMNS.items() if len(self.table(t))]
        if "opportunities" in self.present and len(self.opportunities):
            dates.append(self.opportunities["closed_on"].max())
        dates = [d for d in dates if pd.notna(d)]
        if not dates:
            raise ValueError("the dataset has no dated rows, so it has no latest date")
        return max(dates)

    def as_of(self, when: object = None) -> pd.Timestamp:
        """The as-of date to work at: ``when`` (a date or its text) or, when None or
        empty, the data's last date (the one default every command and endpoint uses)."""
        return pd.Timestamp(when if when else self.last_date).normalize()
