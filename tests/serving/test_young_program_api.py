"""A program with two quarters of bookings, served over real HTTP (issue 22): the champion
is the sales-ops estimate and every answer says so; ``/recommend`` answers 503 with the
reason the recommender could not be trained."""

from __future__ import annotations

import httpx
import mlflow
import pytest

from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.world import simulate_world, write_world
from training.cli import main

from .conftest import Server, Store, assert_error

pytestmark = pytest.mark.xdist_group("serving-young")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("young")
    write_world(simulate_world(partners=40, quarters=2, seed=11), root / "demo")
    store = Store(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store.uri)
        mp.chdir(root)
        assert main(["train", "--data", str(root / "demo")]) == 0
    mlflow.set_tracking_uri(None)
    return store


@pytest.fixture(scope="module")
def server(store: Store, server_factory) -> Server:
    return server_factory({"MLFLOW_TRACKING_URI": store.uri}, workdir=store.root)


def test_the_sales_ops_champion_is_ready_and_flagged(server: Server) -> None:
    server.wait("/readyz")
    info = httpx.get(server.url + "/model-info").json()
    (forecaster,) = [m for m in info["models"] if m["name"] == FORECASTER_MODEL]
    assert forecaster["method"] == "sales_ops_estimate" and forecaster["backtested"] is False
    assert forecaster["metrics"]["unbacktested.error_rows"] > 0
    (missing,) = info["unavailable"]
    assert missing["name"] == RECOMMENDER_MODEL and "too little history" in missing["reason"]

    answer = httpx.post(server.url + "/forecast", json={"partner_ids": ["P00001"]}).json()
    assert answer["method"] == "sales_ops_estimate" and len(answer["forecasts"]) == 4
    for row in answer["forecasts"]:
        assert row["p10"] <= row["p50"] <= row["p90"]
    total = httpx.post(server.url + "/forecast/aggregate", json={"group_by": "total"}).json()
    assert total["method"] == "sales_ops_estimate" and len(total["forecasts"]) == 4


def test_recommend_answers_503_with_the_reason(server: Server) -> None:
    body = assert_error(httpx.post(server.url + "/recommend", json={}), 503)
    assert "could not fit it" in body["error"] and "too little history" in body["error"]
