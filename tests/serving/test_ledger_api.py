"""Forecasts given by the API and by ``partnercast forecast`` land in the forecast ledger.

Real servers on the shared trained champion: answers are recorded off the request path
(once, however often they are asked), what is queued is written on shutdown, and a
ledger that cannot be written never costs an answer. The CLI records its partner and
group rows unless told not to, and exits 1 naming the ledger when it cannot.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.names import FORECASTER_MODEL
from features.reporting import ForecastLedger
from serving import answers
from serving.http import ServiceState
from serving.ledger_writer import LedgerWriter, Provenance
from serving.schemas import (
    AggregateResponse,
    ForecastRequest,
    ForecastResponse,
    GroupForecast,
    PartnerForecast,
)
from serving.settings import ServingSettings
from training.cli import main

from .conftest import Server, Store

pytestmark = pytest.mark.xdist_group("serving-ledger")


def _url(folder: Path) -> str:
    return f"sqlite:///{folder / 'ledger.db'}"


def _wait_for_rows(url: str, n: int, timeout: float = 30.0) -> pd.DataFrame:
    deadline = time.monotonic() + timeout
    while True:
        rows = ForecastLedger(url, create=False).forecasts()
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _recording_server(server_factory, store: Store, folder: Path, flush: float) -> Server:
    """A server recording into ``folder``'s ledger, gathering answers ``flush`` seconds."""
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_LEDGER_URL": _url(folder),
            "PARTNERCAST_LEDGER_FLUSH_SECONDS": str(flush),
        }
    )
    server.wait("/readyz")
    return server


# -- the writer, in process ---------------------------------------------------------
MADE_BY = Provenance("m", "7", "run-7", dt.date(2023, 12, 31))


def _answer(ids: list[str], p50: float = 10.0) -> ForecastResponse:
    forecasts = [
        PartnerForecast(
            partner_id=p, quarter_start=dt.date(2024, 1, 1), horizon=1, p10=1, p50=p50, p90=99
        )
        for p in ids
    ]
    return ForecastResponse(as_of=MADE_BY.as_of, model_version="7", forecasts=forecasts)


def test_writer_batches_skips_repeats_and_flushes_on_close(tmp_path: Path) -> None:
    writer = LedgerWriter(_url(tmp_path), flush_seconds=60)  # only close() writes
    for _ in range(50):
        writer.submit(_answer(["A", "B"]), MADE_BY)
    groups = AggregateResponse(
        as_of=MADE_BY.as_of,
        model_version="7",
        group_by="region",
        forecasts=[
            GroupForecast(
                group="EMEA", quarter_start=dt.date(2024, 1, 1), horizon=1, p10=1, p50=2, p90=3
            )
        ],
    )
    writer.submit(groups, MADE_BY)
    writer.close()
    rows = ForecastLedger(_url(tmp_path)).forecasts()
    assert sorted(zip(rows["level"], rows["key"], strict=True)) == [
        ("partner", "A"),
        ("partner", "B"),
        ("region", "EMEA"),
    ]
    assert set(rows["source"]) == {"api"} and set(rows["run_id"]) == {"run-7"}
    assert writer.recorded == 3 and writer.dropped == 0


def test_writer_survives_a_ledger_it_cannot_write(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    writer = LedgerWriter(f"sqlite:///{blocker / 'ledger.db'}", flush_seconds=0)
    writer.submit(_answer(["A"]), MADE_BY)
    writer.close()
    assert writer.dropped == 1 and writer.recorded == 0
    assert "could not record" in caplog.text and "a-file" in caplog.text


# -- over HTTP ------------------------------------------------------------------------
def test_api_answers_are_recorded_once(
    trained_store: Store, server_factory, tmp_path_factory
) -> None:
    folder = tmp_path_factory.mktemp("api-ledger")
    server, url = _recording_server(server_factory, trained_store, folder, 0.2), _url(folder)
    with server.client() as api:
        info = api.get("/model-info").json()["models"]
        champion = next(m for m in info if m["name"] == FORECASTER_MODEL)
        ids = ["P00003", "P00001", "P00002"]
        answers = [api.post("/forecast", json={"partner_ids": ids, "horizon": 4}) for _ in range(5)]
        answers.append(api.post("/forecast", json={"partner_ids": ids[:1], "explain": True}))
        regions = api.post("/forecast/aggregate", json={"group_by": "region", "horizon": 2})
        new = api.post("/forecast/new-partner", json={"partner": {"tier": "gold"}})
    assert all(a.status_code == 200 for a in [*answers, regions, new])
    body = answers[0].json()
    n_regions = len(regions.json()["forecasts"])
    rows = _wait_for_rows(url, 12 + n_regions)
    assert len(rows) == 12 + n_regions  # five asks and an explained one: stored once
    assert set(rows["source"]) == {"api"}
    assert set(rows["model_name"]) == {FORECASTER_MODEL}
    assert set(rows["model_version"]) == {champion["version"]}
    assert set(rows["run_id"]) == {champion["run_id"]}
    assert set(rows["as_of"].dt.date.astype(str)) == {body["as_of"]}
    partner = rows[rows["level"] == "partner"].set_index(["key", "horizon"])
    for f in body["forecasts"]:
        got = partner.loc[(f["partner_id"], f["horizon"])]
        assert str(got["quarter_start"].date()) == f["quarter_start"]
        assert (got["p10"], got["p50"], got["p90"]) == (f["p10"], f["p50"], f["p90"])
    region = rows[rows["level"] == "region"].set_index(["key", "horizon"])["p50"]
    for f in regions.json()["forecasts"]:
        assert region[(f["group"], f["horizon"])] == f["p50"]


def test_queued_answers_are_written_on_shutdown(
    trained_store: Store, server_factory, tmp_path_factory
) -> None:
    folder = tmp_path_factory.mktemp("shutdown-ledger")
    server, url = _recording_server(server_factory, trained_store, folder, 600), _url(folder)
    with server.client() as api:
        answer = api.post("/forecast", json={"partner_ids": ["P00001"], "horizon": 2})
    assert answer.status_code == 200
    time.sleep(1.0)
    assert ForecastLedger(url, create=False).forecasts().empty  # still gathering
    server.stop()
    assert ForecastLedger(url, create=False).forecasts()["key"].tolist() == ["P00001"] * 2


def test_committed_rows_survive_a_killed_server(
    trained_store: Store, server_factory, tmp_path_factory
) -> None:
    """SIGKILL while recording: what the ledger committed is there, intact, every override
    the server acknowledged (201) is kept, and the next server goes on recording into it."""
    folder = tmp_path_factory.mktemp("killed-ledger")
    server, url = _recording_server(server_factory, trained_store, folder, 0.1), _url(folder)
    acknowledged: set[str] = set()
    with server.client() as api:
        for i in range(1, 16):
            answer = api.post("/forecast", json={"partner_ids": [f"P{i:05d}"], "horizon": 4})
        quarter = answer.json()["forecasts"][0]["quarter_start"]
        committed = len(_wait_for_rows(url, 60))
        assert committed == 60
        for i in range(16, 31):  # answered, perhaps still queued when the server dies
            api.post("/forecast", json={"partner_ids": [f"P{i:05d}"], "horizon": 4})
            override = {"partner_id": f"P{i:05d}", "quarter_start": quarter, "p50": 1000.0 * i,
                        "reason": "killed mid-write"}  # fmt: skip
            written = api.post("/forecast/overrides", json=override)
            assert written.status_code == 201, written.text
            acknowledged.add(written.json()["override_id"])
    server.kill()

    with sqlite3.connect(folder / "ledger.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    survived = ForecastLedger(url, create=False).forecasts()
    assert len(survived) >= committed
    assert set(survived["key"]) >= {f"P{i:05d}" for i in range(1, 16)}

    again = _recording_server(server_factory, trained_store, folder, 0.1)
    with again.client() as api:
        kept = api.get("/forecast/overrides").json()["overrides"]
        assert {o["override_id"] for o in kept} == acknowledged
        api.post("/forecast", json={"partner_ids": ["P00040"], "horizon": 2})
    rows = _wait_for_rows(url, len(survived) + 2)
    assert len(rows) == len(survived) + 2 and "P00040" in set(rows["key"])


def test_a_broken_ledger_costs_no_answer_and_recording_can_be_off(
    trained_store: Store, tmp_path: Path, caplog, monkeypatch
) -> None:
    """In process, through the service's own state: the same path as a request takes."""
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    common = {
        "MLFLOW_TRACKING_URI": trained_store.uri,
        "store_dir": tmp_path / "mlruns",
        "reload_seconds": 0,
        "model_source": "mlflow",
    }
    broken, off = ServiceState(), ServiceState()
    broken.start(
        ServingSettings(
            ledger_url=f"sqlite:///{tmp_path / 'a-file' / 'ledger.db'}",
            ledger_flush_seconds=0,
            **common,
        )
    )
    off.start(ServingSettings(ledger_url=_url(tmp_path), record_forecasts=False, **common))
    ask = ForecastRequest(partner_ids=["P00001", "P00002"], horizon=4)
    for _ in range(3):
        first, second = broken.answer(answers.forecast, ask), off.answer(answers.forecast, ask)
        assert isinstance(first, ForecastResponse) and first == second
    broken.stop()
    off.stop()
    assert broken.ledger.dropped == 3 and "could not record" in caplog.text
    assert off.ledger is None and not (tmp_path / "ledger.db").exists()
    mlflow.set_tracking_uri(None)


# -- the CLI ------------------------------------------------------------------------------
@pytest.fixture
def cli_env(trained_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = _url(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", url)
    monkeypatch.chdir(tmp_path)
    yield url
    mlflow.set_tracking_uri(None)


def test_cli_forecast_records_partner_and_group_rows(
    trained_store: Store, cli_env: str, tmp_path: Path, capsys
) -> None:
    data = str(trained_store.root / "demo")
    out, agg = tmp_path / "f.csv", tmp_path / "agg.csv"
    argv = ["forecast", "--data", data, "--horizon", "2", "--out", str(out)]
    assert main([*argv, "--aggregates", str(agg)]) == 0
    forecasts, groups = pd.read_csv(out), pd.read_csv(agg, keep_default_na=False)
    rows = ForecastLedger(cli_env).forecasts()
    assert len(rows) == len(forecasts) + len(groups)
    assert set(rows["source"]) == {"cli"} and set(rows["model_name"]) == {FORECASTER_MODEL}
    assert set(rows["as_of"].dt.date.astype(str)) == {"2023-12-31"}  # the data's last date
    partner = rows[rows["level"] == "partner"].sort_values(["key", "horizon"])
    expected = forecasts.sort_values(["partner_id", "horizon"])
    assert partner["key"].tolist() == expected["partner_id"].tolist()
    assert partner["p50"].tolist() == pytest.approx(expected["p50"].tolist(), rel=1e-12)
    assert sorted(rows["level"].unique()) == ["partner", "partner_type", "region", "tier", "total"]
    assert f"ledger: {len(rows)} new of {len(rows)} rows" in capsys.readouterr().out

    assert main(argv) == 0  # the same forecasts again: nothing new
    assert f"ledger: 0 new of {len(forecasts)} rows" in capsys.readouterr().out
    assert main([*argv, "--as-of", "2023-11-30", "--no-ledger"]) == 0
    assert "ledger" not in capsys.readouterr().out
    assert len(ForecastLedger(cli_env).forecasts()) == len(rows)


def test_cli_forecast_exits_1_naming_a_ledger_it_cannot_write(
    trained_store: Store, cli_env: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", f"sqlite:///{tmp_path / 'a-file' / 'l.db'}")
    out = tmp_path / "f.csv"
    argv = ["forecast", "--data", str(trained_store.root / "demo"), "--horizon", "1"]
    assert main([*argv, "--out", str(out)]) == 1
    assert "a-file/l.db" in capsys.readouterr().err
    assert len(pd.read_csv(out)) > 0  # the forecasts themselves were written first
