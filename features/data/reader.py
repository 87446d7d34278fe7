"""Read a data folder's files and coerce each table to its typed frame.

One file per table, ``<table>.csv`` or ``<table>.parquet``, or a folder ``<table>/`` of
Parquet parts (``bookings/part-00000.parquet``, ...: a big table written in pieces, read
in part-name order as one table); names are matched case-insensitively and anything else
in the folder, such as the simulator's ``_truth/`` folder, is ignored. Reading never
raises on bad data: what cannot be read or parsed becomes a
:class:`~features.data.problems.Problem`, and the typed frame keeps a missing value where
a cell could not be parsed, together with a mask of those cells so that later checks do
not report them a second time.

Coercion follows :data:`features.data.dataset.COLUMNS`: column names are stripped and
lower-cased; dates are ISO-8601 and a timestamp (with or without an offset) is
truncated to the date as written; money and quantities become ``float64``;
booleans accept true/false/1/0/yes/no/t/f in any case; text is stripped, and
empty text is missing; ``status`` and ``level`` are lower-cased; optional columns are added
or filled with their defaults (``partners.name`` defaults to the partner id);
extra columns are kept after the contract's, text ones stripped.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.data.dataset import ALL_TABLES, COLUMNS, REQUIRED_TABLES, Column, dtype_of
from features.data.problems import MAX_EXAMPLES, Problem, plain

logger = logging.getLogger(__name__)

SUFFIXES: tuple[str, ...] = (".csv", ".parquet")
TRUE_WORDS = frozenset({"true", "t", "yes", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "0"})
_ISO_DATE = (  # the date (first 10 characters), then an optional time and offset
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_FIRST_DAY, _LAST_DAY = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")

LOWER_CASED = frozenset({"status", "level"})  # opportunities.status, targets.level
KIND_NAMES = {"date": "dates", "float": "numbers", "bool": "true/false", "str": "text"}
EXPECTED = {
    "date": "an ISO-8601 date such as 2025-03-31 (a timestamp is truncated to its date)",
    "float": "a plain number such as 1234.5",
    "bool": "one of true/false, yes/no, t/f, 1/0",
}


@dataclass(frozen=True)
class TableRead:
    """One table as read: its typed frame, the problems met, and the unparseable cells."""

    table: str
    frame: pd.DataFrame | None
    problems: tuple[Problem, ...] = ()
    unparseable: pd.DataFrame = field(default_factory=pd.DataFrame)


def find_table_files(folder: Path) -> dict[str, list[Path]]:
    """The files (or folders of parts) in ``folder`` that hold each contract table, by
    table (sorted by name)."""
    names = {f"{t}{s}": t for t in ALL_TABLES for s in SUFFIXES}
    found: dict[str, list[Path]] = {t: [] for t in ALL_TABLES}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            table = names.get(path.name.lower())
        elif path.is_dir():
            table = path.name.lower() if path.name.lower() in ALL_TABLES else None
        else:
            table = None
        if table is not None:
            found[table].append(path)
    return found


def parquet_parts(folder: Path) -> list[Path]:
    """A table folder's Parquet parts in name order (other files are ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".parquet")


def table_files(folder: Path, tables: tuple[str, ...] = ALL_TABLES) -> list[Path]:
    """Every file that holds one of ``tables`` in ``folder``, parts included (what a change
    of the dataset changes)."""
    files = []
    for table, paths in find_table_files(folder).items():
        for path in paths if table in tables else []:
            files.extend(parquet_parts(path) if path.is_dir() else [path])
    return sorted(files)


def _read_parts(folder: Path) -> pd.DataFrame:
    parts = parquet_parts(folder)
    if not parts:
        raise ValueError("the folder holds no .parquet parts")
    frames = []
    for part in parts:
        try:
            frames.append(pd.read_parquet(part))
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise ValueError(f"part {part.name}: {_unreadable_reason(exc)}") from exc
    columns = [list(f.columns) for f in frames]
    odd = next((p for p, c in zip(parts, columns, strict=True) if c != columns[0]), None)
    if odd is not None:
        raise ValueError(
            f"part {odd.name} has other columns than {parts[0].name} "
            f"({sorted(set(columns[0]) ^ set(columns[parts.index(odd)]))} differ)"
        )
    return pd.concat(frames, ignore_index=True)


def read_raw(path: Path) -> pd.DataFrame:
    """The file's cells as stored: CSV as text (empty cells are ""), Parquet as typed; a
    folder is its Parquet parts one after the other.

    Raises ``OSError``, ``ValueError``, ``pyarrow.ArrowException`` or pandas'
    ``ParserWarning`` (as an error) when the file cannot be read.
    """
    if path.is_dir():
        return _read_parts(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).reset_index(drop=True)
    with warnings.catch_warnings():
        # a row longer than the header would otherwise lose cells silently
        warnings.simplefilter("error", pd.errors.ParserWarning)
        return pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            index_col=False,
            encoding="utf-8-sig",
        )


def _unreadable_reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"it is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        )
    if isinstance(exc, pd.errors.EmptyDataError):
        return "it is empty (no header row)"
    if isinstance(exc, pd.errors.ParserWarning):
        return "some rows have more fields than the header"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{first[:200]}"


def read_table(table: str, paths: list[Path]) -> TableRead:
    """Read and coerce one table from its file(s); problems instead of exceptions."""
    if not paths:
        if table in REQUIRED_TABLES:
            problem = Problem(
                table,
                None,
                "missing_table",
                f"required table is missing: add {table}.csv or {table}.parquet "
                f"(or a {table}/ folder of Parquet parts)",
            )
            return TableRead(table, None, (problem,))
        return TableRead(table, None)
    if len(paths) > 1:
        names = ", ".join(p.name for p in paths)
        problem = Problem(
            table, None, "duplicate_file", f"more than one file for the table ({names}); keep one"
        )
        return TableRead(table, None, (problem,))
    path = paths[0]
    try:
        raw = read_raw(path)
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserWarning) as exc:
        logger.debug("cannot read %s", path, exc_info=True)
        name = f"{path.name}/" if path.is_dir() else path.name
        message = f"cannot read {name}: {_unreadable_reason(exc)}"
        return TableRead(table, None, (Problem(table, None, "unreadable", message),))
    return coerce_table(table, raw)


def coerce_table(table: str, raw: pd.DataFrame) -> TableRead:
    """Coerce a raw frame to the table's typed frame, noting what cannot be parsed."""
    raw = raw.reset_index(drop=True)
    names = [str(c).strip().lower() for c in raw.columns]
    problems: list[Problem] = []
    seen: set[str] = set()
    keep: list[int] = []
    for i, name in enumerate(names):
        if name in seen:
            problems.append(
                Problem(
                    table,
                    name,
                    "duplicate_column",
                    "the column appears more than once (names are case-insensitive); keep one",
                )
            )
        else:
            seen.add(name)
            keep.append(i)
    raw = raw.iloc[:, keep].set_axis([names[i] for i in keep], axis=1)
    if table in REQUIRED_TABLES and len(raw) == 0:
        problems.append(Problem(table, None, "empty_table", "required table has no rows"))

    columns: dict[str, pd.Series] = {}
    masks: dict[str, pd.Series] = {}
    for column in COLUMNS[table]:
        if column.name not in raw.columns:
            if not column.required:
                columns[column.name] = _default_series(column, raw.index)
            continue  # a missing required column is reported by the schema check
        values, bad = coerce_column(column, raw[column.name])
        masks[column.name] = bad
        if bad.any():
            problems.append(_unparseable(table, column, raw[column.name], bad))
        columns[column.name] = values
    if table == "partners" and "partner_id" in columns:
        columns["name"] = columns["name"].fillna(columns["partner_id"])
    extras = {c: _clean_extra(raw[c]) for c in raw.columns if c not in columns}
    frame = pd.DataFrame({**columns, **extras}, index=raw.index)
    unparseable = pd.DataFrame(masks, index=raw.index, dtype=bool)
    return TableRead(table, frame, tuple(problems), unparseable)


def coerce_column(column: Column, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column in its contract dtype, and a mask of cells that could not be parsed."""
    coerce = _COERCERS[column.kind]
    values, bad = coerce(raw)
    if column.name in LOWER_CASED:
        values = values.str.lower()
    if column.default is not None:
        values = values.fillna(column.default)
    return values.astype(dtype_of(column)), bad


def _text(raw: pd.Series) -> pd.Series:
    """Cells as stripped text, empty text as missing."""
    text = raw.astype("string").str.strip()
    return text.mask(text == "")


def _coerce_str(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_float_dtype(raw) and (raw.dropna() % 1 == 0).all():
        raw = raw.astype("Int64")  # numeric ids in Parquet: 1001, not 1001.0
    return _text(raw), pd.Series(False, index=raw.index)


def _coerce_float(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype("float64")
        return values, pd.Series(False, index=raw.index)
    text = _text(raw)
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    values = values.where(np.isfinite(values))
    return values, text.notna() & values.isna()


def _coerce_date(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        raw = raw.dt.tz_localize(None)  # keep the wall-clock date as written
    if pd.api.types.is_datetime64_dtype(raw):
        days = raw.dt.floor("D")
        in_range = days.between(_FIRST_DAY, _LAST_DAY) | days.isna()
        return days.where(in_range).astype("datetime64[ns]"), ~in_range
    text = _text(raw)
    iso = text.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
    parts = text.str.slice(0, 10).where(iso)
    days = pd.to_datetime(parts, format="%Y-%m-%d", errors="coerce")
    days = days.where(days.between(_FIRST_DAY, _LAST_DAY))
    return days.astype("datetime64[ns]"), text.notna() & days.isna()


def _coerce_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean"), pd.Series(False, index=raw.index)
    text = _text(raw).str.lower()
    if pd.api.types.is_numeric_dtype(raw):
        text = text.str.removesuffix(".0")
    values = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    values = values.mask(text.isin(TRUE_WORDS).fillna(False).astype(bool), True)
    values = values.mask(text.isin(FALSE_WORDS).fillna(False).astype(bool), False)
    return values, text.notna() & values.isna()


_COERCERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "str": _coerce_str,
    "float": _coerce_float,
    "date": _coerce_date,
    "bool": _coerce_bool,
}


def _default_series(column: Column, index: pd.Index) -> pd.Series:
    """An optional column absent from the file: its default, or missing values."""
    missing = pd.NaT if column.kind == "date" else pd.NA
    value = missing if column.default is None else column.default
    return pd.Series([value] * len(index), index=index, dtype=dtype_of(column))


_CODE_LIKE = r"^[+-]?0\d"  # "0123": a code (postcode, account), not a number


def _clean_extra(raw: pd.Series) -> pd.Series:
    """Extra columns as read, text stripped (empty as missing).

    A text column whose values are all plain numbers (CSV has no types) becomes float64,
    so ``employees`` is a number whatever the file format (a Parquet file's integer
    column becomes float64 too: the same dataset in either format); values with a leading
    zero (codes such as postcodes) keep the column text.
    """
    if pd.api.types.is_bool_dtype(raw):
        return raw
    if pd.api.types.is_numeric_dtype(raw):  # a typed file's integers: numbers as from CSV
        return raw.astype("float64")
    if not (pd.api.types.is_string_dtype(raw) or raw.dtype == object):
        return raw
    text = _text(raw)
    present = text.dropna()
    if present.empty or present.str.contains(_CODE_LIKE).any():
        return text
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.isna().any() or not np.isfinite(numbers.to_numpy(dtype=float)).all():
        return text
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _unparseable(table: str, column: Column, raw: pd.Series, bad: pd.Series) -> Problem:
    rows = np.flatnonzero(bad.to_numpy())
    examples = tuple(
        {"row": int(i) + 1, column.name: plain(raw.iloc[i])} for i in rows[:MAX_EXAMPLES]
    )
    kind = column.kind
    message = f"values cannot be read as {KIND_NAMES[kind]}: expected {EXPECTED[kind]}"
    if kind == "date":
        message += f", from {_FIRST_DAY.year + 1} to {_LAST_DAY.year - 1}"
    return Problem(table, column.name, "unparseable", message, len(rows), examples)
