"""POST /kpis over real HTTP, against the library and the CLI on the same data and models.

The server reads the small world (PARTNERCAST_DATA_DIR) with a forecaster and a
recommender champion; its answers must equal ``features.reporting.kpi_sources.channel_kpis`` on the
same dataset and champions, and ``partnercast kpis`` must write the same numbers.
"""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import load_dataset
from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.reporting import KPI_COLUMNS
from features.reporting.kpi_sources import IN_SAMPLE, channel_kpis
from features.scoring import load_champion
from training.cli import main

from .conftest import Server, Store, assert_error, with_recommender

pytestmark = pytest.mark.xdist_group("serving-kpis")


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return with_recommender(trained_store, tmp_path_factory.mktemp("kpi-store"))


@pytest.fixture(scope="module")
def data_dir(trained_store: Store):
    return trained_store.root / "demo"


@pytest.fixture(scope="module")
def api(store: Store, data_dir, server_factory) -> httpx.Client:
    server: Server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_DATA_DIR": str(data_dir),
            "PARTNERCAST_LEDGER_URL": f"sqlite:///{store.root / 'no-ledger.db'}",
        },
        workdir=store.root,
    )
    server.wait("/readyz")
    with server.client() as client:
        yield client


def library_kpis(store: Store, data_dir, group_by: str | None = None, as_of=None) -> pd.DataFrame:
    ds = load_dataset(data_dir)
    forecaster = load_champion(FORECASTER_MODEL, store.uri)
    recommender = load_champion(RECOMMENDER_MODEL, store.uri).model.recommender
    return channel_kpis(
        ds,
        as_of=as_of or ds.last_date,
        calendar=QuarterCalendar(),
        group_by=group_by,
        forecaster=forecaster.model.forecaster,
        forecaster_version=forecaster.version,
        recommender=recommender,
    )


def assert_same(got: pd.DataFrame, expected: pd.DataFrame, key: str) -> None:
    got, expected = got.set_index(key), expected.set_index(expected[key].astype(str))
    assert got.index.tolist() == expected.index.tolist()
    for column in KPI_COLUMNS:
        a = got[column].astype(float).to_numpy()
        b = expected[column].astype(float).to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-9, err_msg=column)


def test_partner_kpis_match_the_library(api, store, data_dir) -> None:
    r = api.post("/kpis", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = library_kpis(store, data_dir)
    got = pd.DataFrame(body["kpis"])
    assert_same(got, expected, "partner_id")
    assert body["as_of"] == str(load_dataset(data_dir).last_date.date())
    # the small world ends on a quarter end and the champion was trained through it;
    # partners who joined during the quarter had no forecast at its start
    new = (
        (
            load_dataset(data_dir).partners.set_index("partner_id")["joined_on"]
            >= pd.Timestamp(body["quarter_start"])
        )
        .reindex(got["partner_id"])
        .to_numpy()
    )
    assert new.any() and not new.all()
    assert (got.loc[~new, "forecast_source"] == IN_SAMPLE).all()
    assert got.loc[new, ["forecast_source", "forecast_p50_quarter"]].isna().all().all()
    assert got["mdf_roi"].notna().any()
    assert sorted(got["leaderboard_rank"]) == list(range(1, len(got) + 1))


def test_some_partners_in_the_order_asked(api, store, data_dir) -> None:
    ids = library_kpis(store, data_dir)["partner_id"].astype(str).tolist()
    wanted = [ids[5], ids[0], ids[5]]
    r = api.post("/kpis", json={"partner_ids": wanted})
    assert r.status_code == 200, r.text
    assert [row["partner_id"] for row in r.json()["kpis"]] == [ids[5], ids[0]]


def test_region_groups_match_the_library(api, store, data_dir) -> None:
    r = api.post("/kpis", json={"group_by": "region"})
    assert r.status_code == 200, r.text
    got = pd.DataFrame(r.json()["kpis"])
    expected = library_kpis(store, data_dir, "region")
    assert_same(got, expected, "group")
    partners = library_kpis(store, data_dir)
    assert got["revenue_ytd"].sum() == pytest.approx(partners["revenue_ytd"].sum())
    assert got["partners"].sum() == len(partners)


def test_an_earlier_as_of_date(api, store, data_dir) -> None:
    as_of = pd.Timestamp(load_dataset(data_dir).last_date) - pd.Timedelta(days=100)
    r = api.post("/kpis", json={"as_of": str(as_of.date()), "group_by": "tier"})
    assert r.status_code == 200, r.text
    assert r.json()["as_of"] == str(as_of.date())
    assert_same(
        pd.DataFrame(r.json()["kpis"]), library_kpis(store, data_dir, "tier", as_of), "group"
    )


def test_bad_requests_are_4xx_with_a_reason(api) -> None:
    body = assert_error(api.post("/kpis", json={"partner_ids": ["P00001", "NOPE"]}), 404)
    assert body["unknown_partner_ids"] == ["NOPE"]
    body = assert_error(api.post("/kpis", json={"partner_ids": ["x"], "group_by": "tier"}), 422)
    assert "not both" in body["error"]
    assert_error(api.post("/kpis", json={"group_by": "planet"}), 400)
    assert_error(api.post("/kpis", json={"partner_ids": []}), 400)
    assert_error(api.post("/kpis", json={"as_of": "yesterday"}), 400)


def test_the_cli_writes_the_same_numbers(api, store, data_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", f"sqlite:///{tmp_path / 'none.db'}")
    out = tmp_path / "kpis.csv"
    assert main(["kpis", "--data", str(data_dir), "--out", str(out)]) == 0
    written = pd.read_csv(out, dtype={"partner_id": str})
    answered = pd.DataFrame(api.post("/kpis", json={}).json()["kpis"])
    assert_same(answered, written, "partner_id")
    assert not (tmp_path / "none.db").exists()  # reading no ledger creates none


def test_missing_dataset_is_503_not_500(store, server_factory, tmp_path) -> None:
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_DATA_DIR": str(tmp_path / "nowhere"),
        },
        workdir=store.root,
    )
    server.wait("/readyz")
    with server.client() as client:
        body = assert_error(client.post("/kpis", json={}), 503)
    assert "PARTNERCAST_DATA_DIR" in body["error"]
