"""Validate a data folder against the contract, reporting every problem at once.

:func:`validate_folder` reads every table (``features.data.reader``), which reports
missing, duplicate and unreadable files and values that cannot be parsed; then
it checks each typed frame with its pandera schema (``features.data.contract``),
lazily so that all failures are collected, and turns pandera's failure cases
into :class:`~features.data.problems.Problem` records: one per table, column and
check, with a count and a few example rows. A cell that could not be parsed is
reported once, as unparseable, and not again by the checks that its missing
value would trip (not-null, date order, open/closed).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaError, SchemaErrorReason, SchemaErrors

from features.calendar import QuarterCalendar
from features.data.contract import STATUSES, row_rule, table_schema
from features.data.dataset import (
    ALL_TABLES,
    DATE_COLUMNS,
    TARGET_LEVELS,
    Dataset,
    empty_frame,
)
from features.data.problems import (
    MAX_EXAMPLES,
    DataContractError,
    Problem,
    ValidationReport,
    plain,
)
from features.data.reader import TableRead, find_table_files, read_table

__all__ = [
    "DataContractError",
    "Problem",
    "ValidationReport",
    "check_table",
    "summarize_dataset",
    "validate_folder",
]

logger = logging.getLogger(__name__)


def validate_folder(path: str | Path) -> ValidationReport:
    """Read and check every table in ``path``; the report holds every problem found.

    Bad data never raises: it becomes problems in the report. When there are none,
    ``report.dataset`` is the loaded :class:`~features.data.dataset.Dataset`.
    """
    folder = Path(path)
    if not folder.exists():
        problem = Problem(None, None, "missing_folder", f"data folder {folder} does not exist")
        return ValidationReport((problem,), source=folder)
    if not folder.is_dir():
        problem = Problem(None, None, "not_a_folder", f"{folder} is not a folder")
        return ValidationReport((problem,), source=folder)

    try:
        files = find_table_files(folder)
    except OSError as exc:
        problem = Problem(None, None, "unreadable", f"cannot list {folder}: {exc.strerror}")
        return ValidationReport((problem,), source=folder)
    reads = {table: read_table(table, files[table]) for table in ALL_TABLES}
    partner_ids = _partner_ids(reads["partners"])
    problems: list[Problem] = []
    for table in ALL_TABLES:
        read = reads[table]
        problems += read.problems
        if read.frame is not None:
            problems += check_table(table, read.frame, partner_ids, read.unparseable)
    if reads["targets"].frame is not None:
        problems += check_targets(reads["targets"].frame, partner_ids)
    if problems:
        logger.info("%d contract problems in %s", len(problems), folder)
        return ValidationReport(tuple(problems), source=folder)

    frames = {t: reads[t].frame for t in ALL_TABLES}
    present = frozenset(t for t, f in frames.items() if f is not None)
    dataset = Dataset(
        **{t: empty_frame(t) if f is None else f for t, f in frames.items()},
        present=present,
        source=folder,
    )
    return ValidationReport((), dataset=dataset, source=folder)


def _partner_ids(read: TableRead) -> frozenset[str] | None:
    """The known partner ids, or None when they cannot be known (no foreign-key check)."""
    if read.frame is None or "partner_id" not in read.frame.columns:
        return None
    return frozenset(read.frame["partner_id"].dropna())


def check_table(
    table: str,
    frame: pd.DataFrame,
    partner_ids: frozenset[str] | None = None,
    unparseable: pd.DataFrame | None = None,
) -> list[Problem]:
    """The problems pandera finds in a typed ``frame`` of ``table``.

    ``unparseable`` masks cells the reader could not parse (one bool column per
    contract column); failures at those cells are left out, already reported.
    """
    frame = frame.reset_index(drop=True)  # row numbers are positions in the file
    skip = pd.DataFrame(index=frame.index) if unparseable is None else unparseable
    try:
        table_schema(table, partner_ids).validate(frame, lazy=True)
    except SchemaErrors as exc:
        problems = (_translate(table, frame, err, skip) for err in exc.schema_errors)
        return [p for p in problems if p is not None]
    return []


def check_targets(frame: pd.DataFrame, partner_ids: frozenset[str] | None) -> list[Problem]:
    """The rules of ``targets`` across rows and tables: a partner key names a known
    partner, and there is one target per (quarter_start, level, key)."""
    frame = frame.reset_index(drop=True)
    if any(c not in frame.columns for c in ("quarter_start", "level", "key")):
        return []  # the missing column is reported by the schema check
    problems: list[Problem] = []
    shown = ["quarter_start", "level", "key"]
    is_partner = (frame["level"] == "partner").fillna(False).astype(bool)
    if partner_ids is not None:
        unknown = is_partner & frame["key"].notna() & ~frame["key"].isin(partner_ids)
        rows = np.flatnonzero(unknown.to_numpy())
        if len(rows):
            message = "a partner target's key is not in partners: add the partner or fix the id"
            problems.append(
                Problem(
                    "targets",
                    "key",
                    "foreign_key",
                    message,
                    len(rows),
                    _examples(frame, rows, shown),
                )
            )
    keys = frame[shown].astype("string").fillna("")
    repeated = keys.duplicated(keep="first") & frame["quarter_start"].notna().to_numpy()
    rows = np.flatnonzero(repeated.to_numpy())
    if len(rows):
        message = "more than one target for the same quarter_start, level and key: keep one"
        problems.append(
            Problem("targets", "key", "unique", message, len(rows), _examples(frame, rows, shown))
        )
    return problems


_COLUMN_MESSAGES = {
    "not_null": "{column} is required but empty",
    "unique": "{column} must be unique, but the same value is on more than one row",
    "foreign_key": "partner_id is not in partners: add the partner or fix the id",
    "negative": "{column} must be >= 0",
    "status_values": "status must be one of " + ", ".join(STATUSES) + " (in any case)",
    "level_values": "level must be one of " + ", ".join(TARGET_LEVELS) + " (in any case)",
}


def _translate(
    table: str, frame: pd.DataFrame, err: SchemaError, skip: pd.DataFrame
) -> Problem | None:
    """One pandera failure as a Problem; None when every failing row is already reported."""
    reason = err.reason_code
    if reason == SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME:
        column = str(err.failure_cases)
        message = f"required column {column} is missing (column names are case-insensitive)"
        return Problem(table, column, "missing_column", message)
    rows = _failing_rows(err)
    if rows is None:  # not about rows: a wrong dtype, a check that crashed
        column = str(err.schema.name) if isinstance(err.schema, pa.Column) else None
        check = "dtype" if reason == SchemaErrorReason.WRONG_DATATYPE else _check_name(err)
        return Problem(table, column, check, str(err).strip().splitlines()[0])
    if isinstance(err.schema, pa.Column):
        column = str(err.schema.name)
        check = {
            SchemaErrorReason.SERIES_CONTAINS_NULLS: "not_null",
            SchemaErrorReason.SERIES_CONTAINS_DUPLICATES: "unique",
        }.get(reason, _check_name(err))
        rows = _without(rows, skip, [column])
        if check == "unique":
            rows = rows[frame[column].iloc[rows].notna().to_numpy()]
        message = _COLUMN_MESSAGES.get(check, f"{column} fails {check}").format(column=column)
        shown = [column]
    else:
        rule = row_rule(table, _check_name(err))
        if rule is None:
            return Problem(table, None, _check_name(err), str(err).splitlines()[0])
        rows = _without(rows, skip, list(rule.columns))
        column, check, message, shown = rule.column, rule.name, rule.message, list(rule.columns)
    if len(rows) == 0:
        return None
    return Problem(table, column, check, message, len(rows), _examples(frame, rows, shown))


def _check_name(err: SchemaError) -> str:
    check = err.check
    name = getattr(check, "name", None) or str(check)
    return str(name)


def _failing_rows(err: SchemaError) -> np.ndarray | None:
    """Positions of the failing rows, ascending and distinct (frames have a RangeIndex).

    None when the failure is not about rows.
    """
    cases = err.failure_cases
    if not isinstance(cases, pd.DataFrame) or "index" not in cases.columns:
        return None
    index = pd.to_numeric(cases["index"], errors="coerce").dropna().astype(np.int64)
    return np.unique(index.to_numpy())


def _without(rows: np.ndarray, skip: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """``rows`` minus those with an unparseable cell in any of ``columns``."""
    masked = [c for c in columns if c in skip.columns]
    if not masked or len(rows) == 0:
        return rows
    bad = skip[masked].to_numpy().any(axis=1)
    return rows[~bad[rows]]


def _examples(frame: pd.DataFrame, rows: np.ndarray, columns: list[str]) -> tuple[dict, ...]:
    cols = [c for c in columns if c in frame.columns]
    return tuple(
        {"row": int(i) + 1, **{c: plain(frame[c].iloc[i]) for c in cols}}
        for i in rows[:MAX_EXAMPLES]
    )


def summarize_dataset(ds: Dataset, calendar: QuarterCalendar | None = None) -> str:
    """A one-screen summary of valid data: rows, dates, partners, quarters, bookings."""
    cal = calendar or QuarterCalendar()
    lines = [f"dataset {ds.source}" if ds.source is not None else "dataset"]
    for table in ALL_TABLES:
        rows = f"{len(ds.table(table)):>10,} rows" if table in ds.present else "    absent"
        lines.append(f"  {table:<14}{rows}")
    dated = [ds.table(t)[c].dropna() for t, c in DATE_COLUMNS.items() if len(ds.table(t))]
    dates = pd.concat(dated) if dated else pd.Series(dtype="datetime64[ns]")
    if len(dates):
        first, last = dates.min(), dates.max()
        n_quarters = cal.quarter_index(last) - cal.quarter_index(first) + 1
        lines.append(f"dates          {first.date()} .. {last.date()}")
        lines.append(f"quarters       {n_quarters} ({cal.label(first)} .. {cal.label(last)})")
    booked = ds.bookings["partner_id"].nunique()
    lines.append(f"partners       {len(ds.partners):,} ({booked:,} with bookings)")
    amount = ds.bookings["amount"]
    credit = amount < 0
    share = credit.mean() if len(amount) else 0.0
    lines.append(f"bookings       total {amount.sum():,.2f}")
    lines.append(
        f"credit notes   {int(credit.sum()):,} of {len(amount):,} rows ({share:.1%}), "
        f"{amount[credit].sum():,.2f}"
    )
    return "\n".join(lines)
