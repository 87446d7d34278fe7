"""The forecast ledger: every forecast partnercast gave, kept so actuals can judge it later.

One table, ``forecasts``: when a forecast was recorded (UTC), who gave it (``source``:
``cli``, ``api`` or ``backtest``), which model (name, version, MLflow run), the date it
was made as of, what it is about (``level``: ``partner`` or a group level; ``key``: the
partner id or the group) and the quarter, horizon and P10/P50/P90.

A forecast is deterministic given its model run, as-of date, level, key, quarter and
horizon, so that is the table's unique key and rows are inserted with ``ON CONFLICT DO
NOTHING``: the API answering the same question a thousand times stores it once. Any
SQLAlchemy URL works; SQLite (the default, ``ledger.db`` beside the MLflow store) runs
in WAL mode with a long busy timeout, so concurrent writers wait for each other instead
of failing, and every :meth:`ForecastLedger.record` call is one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("cli", "api", "backtest")
LEVELS: tuple[str, ...] = ("partner", "region", "tier", "partner_type", "total")
PRODUCTION_SOURCES: tuple[str, ...] = ("cli", "api")
KEY_COLUMNS: tuple[str, ...] = (
    "model_name",
    "model_version",
    "run_id",
    "as_of",
    "level",
    "key",
    "quarter_start",
    "horizon",
)
RECORD_COLUMNS: tuple[str, ...] = (
    "source",
    *KEY_COLUMNS,
    "p10",
    "p50",
    "p90",
)
COLUMNS: tuple[str, ...] = ("recorded_at", *RECORD_COLUMNS)
AS_STOOD_COLUMNS = ["partner_id", "as_of", "model_version", "horizon", "p10", "p50", "p90"]
BUSY_TIMEOUT_SECONDS = 120.0


class _UtcDateTime(sa.types.TypeDecorator):
    """A UTC instant stored naive (every dialect), read back timezone-aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


metadata = sa.MetaData()
forecasts_table = sa.Table(
    "forecasts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", _UtcDateTime(), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Column("run_id", sa.String(100), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("quarter_start", sa.Date, nullable=False),
    sa.Column("horizon", sa.Integer, nullable=False),
    sa.Column("p10", sa.Double, nullable=False),
    sa.Column("p50", sa.Double, nullable=False),
    sa.Column("p90", sa.Double, nullable=False),
    sa.UniqueConstraint(*KEY_COLUMNS, name="uq_forecasts_forecast"),
    sa.Index("ix_forecasts_quarter", "model_name", "level", "quarter_start", "as_of"),
)


def display_url(url: str) -> str:
    """``url`` with any password masked: safe for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def forecast_rows(
    forecasts: pd.DataFrame,
    *,
    source: str,
    model_name: str,
    model_version: str,
    run_id: str,
    as_of: pd.Timestamp | dt.date | None = None,
    level: str | None = None,
) -> pd.DataFrame:
    """Ledger rows (:data:`RECORD_COLUMNS`) from a forecast or aggregate frame.

    Partner forecasts (``partner_id, quarter_start, horizon, p10, p50, p90``) become
    level ``partner``; group forecasts (``group`` instead of ``partner_id``) take their
    level from ``level`` or a ``level`` column. ``as_of`` is one date for all rows, or
    None to use the frame's own ``as_of`` column (a backtest's fold cutoffs).
    """
    if "partner_id" in forecasts.columns:
        key, level = forecasts["partner_id"], "partner"
    elif "group" in forecasts.columns:
        key = forecasts["group"]
        level = level or (forecasts["level"] if "level" in forecasts.columns else None)
        if level is None:
            raise ValueError("group forecasts need a level (argument or 'level' column)")
    else:
        raise ValueError("forecasts need a 'partner_id' or a 'group' column")
    if as_of is None and "as_of" not in forecasts.columns:
        raise ValueError("give as_of, or forecasts with an 'as_of' column")
    rows = pd.DataFrame(
        {
            "source": source,
            "model_name": model_name,
            "model_version": str(model_version),
            "run_id": run_id or "",
            "as_of": forecasts["as_of"] if as_of is None else pd.Timestamp(as_of),
            "level": level,
            "key": key.astype(str),
            "quarter_start": forecasts["quarter_start"],
            "horizon": forecasts["horizon"],
            "p10": forecasts["p10"],
            "p50": forecasts["p50"],
            "p90": forecasts["p90"],
        },
        index=forecasts.index,
    )
    return rows.reset_index(drop=True)


def _check_rows(rows: pd.DataFrame) -> None:
    """Boundary check of rows to record: precise errors, nothing half-written."""
    missing = [c for c in RECORD_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"ledger rows lack columns {missing}")
    nulls = [c for c in RECORD_COLUMNS if rows[c].isna().any()]
    if nulls:
        raise ValueError(f"ledger rows have missing values in {nulls}")
    for column, allowed in (("source", SOURCES), ("level", LEVELS)):
        bad = sorted(set(rows[column]) - set(allowed))
        if bad:
            raise ValueError(f"ledger {column} must be one of {allowed}, got {bad}")


def _dates(values: pd.Series) -> list[dt.date]:
    return [ts.date() for ts in pd.to_datetime(values)]


def _records(rows: pd.DataFrame, recorded_at: dt.datetime) -> list[dict[str, Any]]:
    """Plain Python values per row (what every DB-API driver accepts)."""
    columns: dict[str, list[Any]] = {
        "source": rows["source"].astype(str).tolist(),
        "model_name": rows["model_name"].astype(str).tolist(),
        "model_version": rows["model_version"].astype(str).tolist(),
        "run_id": rows["run_id"].astype(str).tolist(),
        "as_of": _dates(rows["as_of"]),
        "level": rows["level"].astype(str).tolist(),
        "key": rows["key"].astype(str).tolist(),
        "quarter_start": _dates(rows["quarter_start"]),
        "horizon": rows["horizon"].astype(int).tolist(),
        "p10": rows["p10"].astype(float).tolist(),
        "p50": rows["p50"].astype(float).tolist(),
        "p90": rows["p90"].astype(float).tolist(),
    }
    names = ["recorded_at", *columns]
    return [
        dict(zip(names, (recorded_at, *values), strict=True))
        for values in zip(*columns.values(), strict=True)
    ]


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL (readers never block the writer) and a long wait for the write lock."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _sqlite_file(url: str) -> Path | None:
    """The database file of a plain SQLite URL (None: another dialect, memory or URI)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def _engine(url: str, *, create: bool) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    path = _sqlite_file(url)
    if create and path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def create_tables(engine: Engine, tables: list[sa.Table] | None = None, attempts: int = 5) -> None:
    """Create the tables that are missing (``None``: every table of ``metadata``).

    Another thread or process creating them between the check and the create is fine: the
    create is tried again and then finds them."""
    for attempt in range(1, attempts + 1):
        try:
            metadata.create_all(engine, tables=tables, checkfirst=True)
            return
        except sa.exc.DBAPIError:  # the other one won between check and create
            if attempt == attempts:
                raise
            log.debug("schema creation raced (attempt %d); retrying", attempt)
            time.sleep(0.05 * attempt)


class ForecastLedger:
    """The ledger at a SQLAlchemy ``url``; see the module docstring.

    ``create=False`` opens an existing ledger for reading only: nothing is created, and a
    ledger that does not exist yet reads as empty.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine = _engine(url, create=create)
        self._exists = False
        if create:
            self._create_tables()

    def __repr__(self) -> str:
        return f"ForecastLedger({display_url(self.url)!r})"

    def close(self) -> None:
        """Release the connection pool (the ledger can be opened again any time)."""
        self.engine.dispose()

    def __enter__(self) -> ForecastLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------
    def _create_tables(self) -> None:
        create_tables(self.engine)
        self._exists = True

    def _has_table(self) -> bool:
        if not self._exists:
            path = _sqlite_file(self.url)
            if path is not None and not path.exists():
                return False  # reading must not create an empty database file
            try:
                self._exists = sa.inspect(self.engine).has_table(forecasts_table.name)
            except sa.exc.OperationalError:  # e.g. a SQLite file that is not there
                return False
        return self._exists

    # -- writing ---------------------------------------------------------------------
    def _insert(self) -> sa.Insert | None:
        """An insert that skips rows already stored (None: the dialect has no such insert)."""
        name = self.engine.dialect.name
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            return None
        return insert(forecasts_table).on_conflict_do_nothing(index_elements=list(KEY_COLUMNS))

    def record(self, rows: pd.DataFrame, *, recorded_at: dt.datetime | None = None) -> int:
        """Store ``rows`` (:data:`RECORD_COLUMNS`, e.g. from :func:`forecast_rows`).

        All rows or none (one transaction); rows already in the ledger are skipped.
        Returns how many rows were new.
        """
        _check_rows(rows)
        rows = rows.drop_duplicates(list(KEY_COLUMNS))
        if rows.empty:
            return 0
        records = _records(rows, recorded_at or dt.datetime.now(dt.UTC))
        statement = self._insert()
        added = 0
        # the transaction starts with a write, so SQLite takes the write lock first and
        # a concurrent writer waits (busy timeout) instead of failing on a stale snapshot
        with self.engine.begin() as conn:
            if statement is not None:
                # count the rows the database returns as inserted: drivers' rowcount of a
                # batched insert is -1 on PostgreSQL (psycopg), so it cannot be trusted
                inserted = conn.execute(statement.returning(forecasts_table.c.key), records)
                added = len(inserted.all())
            else:  # other dialects: one savepoint per row, a duplicate key is skipped
                plain = forecasts_table.insert()
                for record in records:
                    try:
                        with conn.begin_nested():
                            conn.execute(plain, record)
                        added += 1
                    except sa.exc.IntegrityError:
                        pass
        log.debug("ledger: %d of %d rows new", added, len(records))
        return added

    # -- reading ---------------------------------------------------------------------
    def forecasts(
        self,
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        level: str | None = None,
        source: str | Iterable[str] | None = None,
        quarter_start_to: pd.Timestamp | dt.date | None = None,
    ) -> pd.DataFrame:
        """Recorded forecasts (:data:`COLUMNS`), filtered; empty when none or no ledger.

        ``quarter_start_to`` keeps quarters starting on or before that date. Dates come
        back as ``datetime64[ns]``, ``recorded_at`` in UTC.
        """
        t = forecasts_table.c
        where = []
        if model_name is not None:
            where.append(t.model_name == model_name)
        if model_version is not None:
            where.append(t.model_version == str(model_version))
        if level is not None:
            where.append(t.level == level)
        if source is not None:
            where.append(t.source.in_([source] if isinstance(source, str) else list(source)))
        if quarter_start_to is not None:
            where.append(t.quarter_start <= pd.Timestamp(quarter_start_to).date())
        return self._select(where).drop(columns="id")

    def as_stood(
        self,
        quarter_start: pd.Timestamp | dt.date,
        *,
        model_name: str,
        sources: Iterable[str] = PRODUCTION_SOURCES,
    ) -> pd.DataFrame:
        """Each partner's forecast of the quarter as it stood when the quarter began.

        For every partner: the forecast of ``quarter_start``'s quarter by ``model_name``
        made with the latest ``as_of`` strictly before ``quarter_start`` (ties: the latest
        recorded). Only production forecasts count by default (``cli``, ``api``), not
        backtest replays. Columns :data:`AS_STOOD_COLUMNS`, one row per partner.
        """
        start = pd.Timestamp(quarter_start).date()
        t = forecasts_table.c
        columns = _read_columns()
        rank = sa.func.row_number().over(
            partition_by=t.key, order_by=(t.as_of.desc(), t.recorded_at.desc(), t.id.desc())
        )
        ranked = (
            sa.select(*columns, rank.label("rank"))
            .where(
                t.model_name == model_name,
                t.level == "partner",
                t.quarter_start == start,
                t.as_of < start,
                t.source.in_(list(sources)),
            )
            .subquery()
        )
        query = sa.select(*(ranked.c[c.name] for c in columns)).where(ranked.c.rank == 1)
        found = self._frame(query.order_by(ranked.c.key))
        out = found.rename(columns={"key": "partner_id"})[AS_STOOD_COLUMNS]
        return out.reset_index(drop=True)

    def _select(self, where: list[Any]) -> pd.DataFrame:
        query = sa.select(*_read_columns()).where(*where).order_by(forecasts_table.c.id)
        return self._frame(query)

    def _frame(self, query: sa.Select) -> pd.DataFrame:
        if not self._has_table():
            return _empty()
        with self.engine.connect() as conn:
            result = conn.execute(query)
            names, rows = list(result.keys()), result.all()
        if not rows:
            return _empty()
        columns = map(list, zip(*rows, strict=True))  # column lists: cheaper than row objects
        return _typed(pd.DataFrame(dict(zip(names, columns, strict=True))))


def _read_columns() -> list[Any]:
    """The table's columns for reading; instants and dates travel as ISO text.

    pandas parses text columns at once, far faster than per-value conversion for big
    reads, and the text is the same on every dialect.
    """
    t = forecasts_table.c
    text = ("recorded_at", "as_of", "quarter_start")
    return [
        sa.cast(t[c], sa.String).label(c) if c in text else t[c]
        for c in ("id", "recorded_at", *RECORD_COLUMNS)
    ]


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    recorded = pd.to_datetime(out["recorded_at"], utc=True, format="ISO8601")
    out["recorded_at"] = recorded.astype("datetime64[ns, UTC]")
    for column in ("as_of", "quarter_start"):
        out[column] = pd.to_datetime(out[column].str.slice(0, 10), format="%Y-%m-%d").astype(
            "datetime64[ns]"
        )
    for column in ("source", "model_name", "model_version", "run_id", "level", "key"):
        out[column] = out[column].astype("string")
    out["horizon"] = out["horizon"].astype(np.int64)
    for column in ("p10", "p50", "p90"):
        out[column] = out[column].astype(np.float64)
    return out[["id", *COLUMNS]]


def _empty() -> pd.DataFrame:
    dtypes = {
        "id": "int64",
        "recorded_at": "datetime64[ns, UTC]",
        "as_of": "datetime64[ns]",
        "quarter_start": "datetime64[ns]",
        "horizon": "int64",
        "p10": "float64",
        "p50": "float64",
        "p90": "float64",
    }
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, "string")) for c in ("id", *COLUMNS)})
