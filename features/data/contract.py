"""The data contract as pandera schemas: what a loaded, typed table must satisfy.

DATA_CONTRACT.md is the law; :data:`features.data.dataset.COLUMNS` fixes the typed
columns (names, dtypes, defaults). The schemas here check a frame that
``features.data.reader`` has already coerced to those dtypes: required values are
present, ids are unique, statuses are known, money and quantities are not
negative (``bookings.amount`` may be: credit notes), dates are in order, and an
opportunity is open exactly when it has no ``closed_on``. Foreign keys are an
``isin`` check built from the partner ids, so a schema built with
``partner_ids`` checks them too. Extra columns are allowed (``strict=False``).

Schemas do not coerce: parsing is the reader's job, so that unparseable values
can be reported as such instead of as nulls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from features.data.dataset import ALL_TABLES, COLUMNS, TABLES, TARGET_LEVELS, dtype_of, is_holdout

STATUSES: tuple[str, ...] = ("open", "won", "lost")
"""Opportunity statuses, lower-cased."""

NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    "opportunities": ("amount",),
    "activities": ("quantity", "amount"),
    "incentives": ("cost",),
    "targets": ("target",),
}
"""Numeric columns that must be >= 0 (``bookings.amount`` is not one: credit notes)."""

UNIQUE: dict[str, str] = {"partners": "partner_id", "opportunities": "opportunity_id"}
"""The id column of each table whose rows have one."""

NULLABLE: dict[str, frozenset[str]] = {
    "bookings": frozenset({"opportunity_id"}),
    "opportunities": frozenset({"closed_on", "expected_close_on"}),
    "targets": frozenset({"key"}),
}
"""Columns of a loaded frame that may hold missing values; every other one is filled."""


@dataclass(frozen=True)
class RowRule:
    """A rule across several columns of one row, reported against ``column``."""

    name: str
    column: str
    columns: tuple[str, ...]
    message: str
    holds: Callable[[pd.DataFrame], pd.Series]

    def check(self) -> pa.Check:
        """The rule as a dataframe-wide pandera check (skipped when a column is missing)."""

        def holds_when_present(frame: pd.DataFrame) -> pd.Series:
            if any(c not in frame.columns for c in self.columns):
                return pd.Series(True, index=frame.index)
            return self.holds(frame).fillna(True).astype(bool)

        return pa.Check(holds_when_present, name=self.name, error=self.message)


def _closed_not_before_created(frame: pd.DataFrame) -> pd.Series:
    return ~(frame["closed_on"] < frame["created_on"])


def _ends_not_before_starts(frame: pd.DataFrame) -> pd.Series:
    return ~(frame["ends_on"] < frame["starts_on"])


def _holdout_randomized(frame: pd.DataFrame) -> pd.Series:
    """A ``none`` row is the control arm of a randomized test: ``randomized`` is true."""
    return ~is_holdout(frame) | frame["randomized"].fillna(False).astype(bool)


def _holdout_free(frame: pd.DataFrame) -> pd.Series:
    """A ``none`` row costs nothing."""
    return ~is_holdout(frame) | frame["cost"].eq(0).fillna(True).astype(bool)


def _open_exactly_when_not_closed(frame: pd.DataFrame) -> pd.Series:
    """Open rows have no ``closed_on``; won/lost rows have one; other statuses pass here."""
    status = frame["status"].astype("string")
    known = status.isin(STATUSES).fillna(False).astype(bool)
    is_open = (status == "open").fillna(False).astype(bool)
    return ~known | (is_open == frame["closed_on"].isna())


def _key_unless_total(frame: pd.DataFrame) -> pd.Series:
    """A target's key names its partner or group; only the total has none."""
    return frame["key"].notna() | (frame["level"] == "total").fillna(False).astype(bool)


def _first_of_month(frame: pd.DataFrame) -> pd.Series:
    """A quarter starts on the first of a month (which month: the fiscal calendar's)."""
    return frame["quarter_start"].dt.day == 1


ROW_RULES: dict[str, tuple[RowRule, ...]] = {
    "opportunities": (
        RowRule(
            "date_order",
            "closed_on",
            ("created_on", "closed_on"),
            "closed_on is before created_on",
            _closed_not_before_created,
        ),
        RowRule(
            "open_closed",
            "closed_on",
            ("status", "closed_on"),
            "status must be open exactly when closed_on is empty "
            "(open deals have no closed_on; won and lost deals have one)",
            _open_exactly_when_not_closed,
        ),
    ),
    "incentives": (
        RowRule(
            "date_order",
            "ends_on",
            ("starts_on", "ends_on"),
            "ends_on is before starts_on",
            _ends_not_before_starts,
        ),
        RowRule(
            "none_randomized",
            "randomized",
            ("incentive", "randomized"),
            "an incentive of none records a randomized holdout (the control arm of a test): "
            "randomized must be true",
            _holdout_randomized,
        ),
        RowRule(
            "none_cost",
            "cost",
            ("incentive", "cost"),
            "an incentive of none records a randomized holdout and costs nothing: cost must be 0",
            _holdout_free,
        ),
    ),
    "targets": (
        RowRule(
            "key_required",
            "key",
            ("level", "key"),
            "key is required (the partner_id or the group's value); only level total has none",
            _key_unless_total,
        ),
        RowRule(
            "quarter_start_day",
            "quarter_start",
            ("quarter_start",),
            "quarter_start must be the first day of a quarter",
            _first_of_month,
        ),
    ),
}
"""Dataframe-wide rules per table."""


def row_rule(table: str, name: str) -> RowRule | None:
    """The row rule of ``table`` called ``name``, if there is one."""
    return next((r for r in ROW_RULES.get(table, ()) if r.name == name), None)


def _column_checks(table: str, column: str, partner_ids: frozenset[str] | None) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column in NON_NEGATIVE.get(table, ()):
        checks.append(pa.Check.ge(0, name="negative"))
    if table == "opportunities" and column == "status":
        checks.append(pa.Check.isin(STATUSES, name="status_values"))
    if table == "targets" and column == "level":
        checks.append(pa.Check.isin(TARGET_LEVELS, name="level_values"))
    if column == "partner_id" and table != "partners" and partner_ids is not None:
        checks.append(pa.Check.isin(partner_ids, name="foreign_key"))
    return checks


def table_schema(table: str, partner_ids: Iterable[str] | None = None) -> pa.DataFrameSchema:
    """The pandera schema of a loaded ``table``.

    With ``partner_ids`` the ``partner_id`` of every table but ``partners`` must be
    one of them (the foreign key); without, that check is left out.
    """
    if table not in ALL_TABLES:
        raise KeyError(f"unknown table {table!r}; tables are {', '.join(ALL_TABLES)}")
    ids = None if partner_ids is None else frozenset(partner_ids)
    columns = {
        c.name: pa.Column(
            dtype_of(c),
            checks=_column_checks(table, c.name, ids),
            nullable=c.name in NULLABLE.get(table, frozenset()),
            unique=UNIQUE.get(table) == c.name,
            required=True,
        )
        for c in COLUMNS[table]
    }
    return pa.DataFrameSchema(
        columns,
        checks=[rule.check() for rule in ROW_RULES.get(table, ())],
        strict=False,
        coerce=False,
        name=table,
    )


def contract_schemas(partner_ids: Iterable[str] | None = None) -> dict[str, pa.DataFrameSchema]:
    """The schema of every table, foreign keys checked against ``partner_ids`` when given."""
    ids = None if partner_ids is None else frozenset(partner_ids)
    return {table: table_schema(table, ids) for table in TABLES}
