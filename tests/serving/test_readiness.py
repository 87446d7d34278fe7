"""No champion yet: the server starts, says why it is not ready, and picks the champion up
by polling the alias once one is promoted (no restart). Auth is off here."""

from __future__ import annotations

import httpx
import pytest
from mlflow import MlflowClient

from features.names import FORECASTER_MODEL

from .conftest import Server, Store, assert_error, copy_store

pytestmark = pytest.mark.xdist_group("serving-readiness")


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A copy of the trained store with the champion alias taken away."""
    store = copy_store(trained_store, tmp_path_factory.mktemp("no-champion"))
    MlflowClient(store.uri, store.uri).delete_registered_model_alias(FORECASTER_MODEL, "champion")
    return store


@pytest.fixture(scope="module")
def server(store: Store, server_factory) -> Server:
    env = {"MLFLOW_TRACKING_URI": store.uri, "PARTNERCAST_RELOAD_SECONDS": "1"}
    return server_factory(env, workdir=store.root)


def test_not_ready_without_a_champion_then_ready_after_promotion(
    server: Server, store: Store
) -> None:
    body = assert_error(httpx.get(server.url + "/readyz"), 503)
    assert FORECASTER_MODEL in body["error"] and "partnercast train" in body["error"]
    assert httpx.get(server.url + "/healthz").status_code == 200

    # auth is off: endpoints answer without a key, with a reason instead of a forecast
    body = assert_error(httpx.post(server.url + "/forecast", json={"partner_ids": ["P1"]}), 503)
    assert FORECASTER_MODEL in body["error"]
    info = httpx.get(server.url + "/model-info").json()
    assert info["models"] == [] and {p["name"] for p in info["unavailable"]} >= {FORECASTER_MODEL}

    MlflowClient(store.uri, store.uri).set_registered_model_alias(FORECASTER_MODEL, "champion", "1")
    server.wait("/readyz", 200, timeout=60)
    r = httpx.post(server.url + "/forecast", json={"partner_ids": ["P00001"], "horizon": 1})
    assert r.status_code == 200, r.text
    assert r.json()["model_version"] == "1"
