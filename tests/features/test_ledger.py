"""The forecast ledger: restarts, concurrent writers, de-duplication, as-stood lookups.

Every test that can runs twice: on SQLite (the default ledger) and on a real PostgreSQL
server (``tests/postgres.py``), the database ``PARTNERCAST_LEDGER_URL`` may point to.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.reporting.ledger import (
    AS_STOOD_COLUMNS,
    COLUMNS,
    ForecastLedger,
    display_url,
    forecast_rows,
)

Q1 = pd.Timestamp("2024-01-01")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger URL that nothing has written to yet, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'ledger.db'}"
    return request.getfixturevalue("postgres_server").new_database()


REFUSE_BOOM = {  # a trigger that makes the database refuse one row of a batch
    "sqlite": [
        "CREATE TRIGGER boom BEFORE INSERT ON forecasts WHEN NEW.key = 'BOOM' "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.key = 'BOOM' THEN "
        "RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER boom BEFORE INSERT ON forecasts FOR EACH ROW EXECUTE FUNCTION boom()",
    ],
}


def _partners(ids: list[str], *, quarter: str = "2024-01-01", horizon: int = 1, p50=100.0):
    n = len(ids)
    return pd.DataFrame(
        {
            "partner_id": ids,
            "quarter_start": [pd.Timestamp(quarter)] * n,
            "horizon": [horizon] * n,
            "p10": [p50 * 0.5] * n,
            "p50": [p50] * n,
            "p90": [p50 * 2] * n,
        }
    )


def _rows(ids, *, as_of="2023-12-31", version="1", run="run-1", source="cli", name="m", **kw):
    return forecast_rows(
        _partners(ids, **kw),
        source=source,
        model_name=name,
        model_version=version,
        run_id=run,
        as_of=pd.Timestamp(as_of),
    )


def test_rows_survive_a_restart_and_duplicates_are_stored_once(url: str) -> None:
    ledger = ForecastLedger(url)
    assert ledger.record(_rows(["A", "B", "C"])) == 3
    assert ledger.record(_rows(["A", "B", "C"], source="api")) == 0  # same forecasts
    assert ledger.record(_rows(["C", "D"])) == 1
    ledger.close()

    again = ForecastLedger(url)
    got = again.forecasts()
    assert list(got.columns) == list(COLUMNS)
    assert sorted(got["key"]) == ["A", "B", "C", "D"]
    assert set(got["source"]) == {"cli"}  # the first recording of a forecast is kept
    assert got["as_of"].dt.date.astype(str).unique().tolist() == ["2023-12-31"]
    assert str(got["recorded_at"].dt.tz) == "UTC"
    assert got.loc[got["key"] == "A", ["p10", "p50", "p90"]].iloc[0].tolist() == [50, 100, 200]
    # a different as-of, version or run is a different forecast
    assert again.record(_rows(["A"], as_of="2023-12-30")) == 1
    assert again.record(_rows(["A"], version="2")) == 1
    assert again.record(_rows(["A"], run="run-2")) == 1
    assert len(again.forecasts()) == 7


def test_group_rows_and_filters(url: str) -> None:
    ledger = ForecastLedger(url)
    groups = pd.DataFrame(
        {
            "level": ["region", "region", "total"],
            "group": ["EMEA", "APAC", "total"],
            "quarter_start": [Q1] * 3,
            "horizon": [1] * 3,
            "p10": [1.0] * 3,
            "p50": [2.0] * 3,
            "p90": [3.0] * 3,
        }
    )
    common = {"model_name": "m", "model_version": "1", "run_id": "r", "as_of": "2023-12-31"}
    ledger.record(forecast_rows(groups, source="api", **common))
    ledger.record(_rows(["A"], source="backtest", version="bt"))
    assert sorted(ledger.forecasts(level="region")["key"]) == ["APAC", "EMEA"]
    assert ledger.forecasts(level="total")["key"].tolist() == ["total"]
    assert ledger.forecasts(source="backtest")["key"].tolist() == ["A"]
    assert len(ledger.forecasts(source=["api", "backtest"])) == 4
    assert ledger.forecasts(model_version="bt")["key"].tolist() == ["A"]
    assert ledger.forecasts(model_name="other").empty
    assert ledger.forecasts(quarter_start_to="2023-12-31").empty


def test_a_batch_is_all_or_nothing(url: str) -> None:
    ledger = ForecastLedger(url)
    with ledger.engine.begin() as conn:  # the database refuses one row of the batch
        for statement in REFUSE_BOOM[ledger.engine.dialect.name]:
            conn.exec_driver_sql(statement)
    with pytest.raises(sa.exc.DBAPIError):
        ledger.record(_rows(["A", "B", "BOOM", "C"]))
    assert ledger.forecasts().empty
    with pytest.raises(ValueError, match="level"):
        ledger.record(_rows(["A"]).assign(level="planet"))
    with pytest.raises(ValueError, match="missing values"):
        ledger.record(_rows(["A"]).assign(p50=float("nan")))
    assert ledger.forecasts().empty


def test_other_dialects_skip_duplicates_row_by_row(url: str, monkeypatch) -> None:
    """The fallback for databases without ON CONFLICT, exercised on both backends."""
    monkeypatch.setattr(ForecastLedger, "_insert", lambda self: None)
    ledger = ForecastLedger(url)
    assert ledger.record(_rows(["A", "B"])) == 2
    assert ledger.record(_rows(["B", "C"])) == 1
    assert sorted(ledger.forecasts()["key"]) == ["A", "B", "C"]


def test_reading_a_ledger_that_does_not_exist_creates_nothing(url: str, tmp_path: Path) -> None:
    reader = ForecastLedger(url, create=False)
    assert reader.forecasts().empty
    assert reader.as_stood(Q1, model_name="m").columns.tolist() == AS_STOOD_COLUMNS
    assert not (tmp_path / "store").exists()  # SQLite: not even the folder
    if reader.engine.dialect.name != "sqlite":  # (inspecting would create the file)
        assert not sa.inspect(reader.engine).has_table("forecasts")


def test_display_url_hides_the_password() -> None:
    shown = display_url("postgresql://user:s3cret@db.example/ledger")
    assert "s3cret" not in shown and "db.example" in shown


# -- as stood -----------------------------------------------------------------------
def test_as_stood_takes_the_latest_forecast_made_before_the_quarter(url: str) -> None:
    ledger = ForecastLedger(url)
    t0 = pd.Timestamp("2024-02-01", tz="UTC")

    def put(ids, when_hours: int, **kw) -> None:
        ledger.record(_rows(ids, **kw), recorded_at=t0 + pd.Timedelta(hours=when_hours))

    # A: three as-of dates before the quarter; the latest (Dec 20, v2) wins
    put(["A"], 0, as_of="2023-09-30", version="1", horizon=2, p50=10.0)
    put(["A"], 1, as_of="2023-12-20", version="2", p50=20.0)
    put(["A"], 2, as_of="2023-11-15", version="1", p50=15.0)
    # on or after the quarter's start does not count
    put(["A", "B"], 3, as_of="2024-01-01", version="3", p50=99.0)
    put(["A"], 3, as_of="2024-02-15", version="3", p50=99.0)
    # B: a tie on as-of: the one recorded later wins (another run of the same day)
    put(["B"], 5, as_of="2023-12-31", version="4", run="late", p50=40.0)
    put(["B"], 4, as_of="2023-12-31", version="4", run="early", p50=30.0)
    # C: only a backtest replay and another model: not production forecasts of "m"
    put(["C"], 0, as_of="2023-12-31", source="backtest")
    put(["C"], 0, as_of="2023-12-31", name="other")
    # D: a forecast of another quarter only
    put(["D"], 0, as_of="2023-12-31", quarter="2024-04-01", horizon=2)

    got = ledger.as_stood(Q1, model_name="m")
    assert got.columns.tolist() == AS_STOOD_COLUMNS
    assert got["partner_id"].tolist() == ["A", "B"]
    a, b = got.iloc[0], got.iloc[1]
    assert (a["as_of"], a["model_version"], a["horizon"], a["p50"]) == (
        pd.Timestamp("2023-12-20"),
        "2",
        1,
        20.0,
    )
    assert (b["as_of"], b["model_version"], b["p50"]) == (pd.Timestamp("2023-12-31"), "4", 40.0)
    with_backtests = ledger.as_stood(Q1, model_name="m", sources=["cli", "api", "backtest"])
    assert with_backtests["partner_id"].tolist() == ["A", "B", "C"]


# -- concurrent writers ------------------------------------------------------------------
def _writer(url: str, name: str, start, batches: int, size: int) -> None:
    """One process: create the ledger at the same moment as the other, then write."""
    start.wait()
    ledger = ForecastLedger(url)
    for b in range(batches):
        own = [f"{name}-{b}-{i}" for i in range(size)]
        shared = [f"shared-{b}-{i}" for i in range(size // 2)]  # both processes write these
        ledger.record(_rows(own + shared, source="api"))
    ledger.close()


def test_two_processes_writing_at_once_lose_nothing(url: str) -> None:
    batches, size = 15, 200
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    workers = [ctx.Process(target=_writer, args=(url, name, start, batches, size)) for name in "xy"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    got = ForecastLedger(url).forecasts()
    assert len(got) == 2 * batches * size + batches * (size // 2)
    assert got["key"].is_unique
    assert got["key"].str.startswith("x-").sum() == batches * size
    assert got["key"].str.startswith("shared-").sum() == batches * (size // 2)
