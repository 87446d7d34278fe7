"""The API over real HTTP against a server started here, with auth on and a champion.

Answers are compared with the library's own batch scoring of the same rows; every bad
request gets a 4xx with ``{"error": ...}`` (never a 5xx); a new promotion is picked up
by ``POST /reload`` with no failed request during the switch.
"""

from __future__ import annotations

import threading

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.names import FORECASTER_MODEL
from features.scoring import PartnerForecaster

from .conftest import Server, Store, assert_error, champion_forecaster, copy_store

pytestmark = pytest.mark.xdist_group("serving-api")

KEY = "test-key-123"
MAX_BATCH = 50


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A private copy: the reload test promotes a new version in it."""
    return copy_store(trained_store, tmp_path_factory.mktemp("api-store"))


@pytest.fixture(scope="module")
def server(store: Store, server_factory) -> Server:
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_API_KEY": KEY,
            "PARTNERCAST_MAX_BATCH": str(MAX_BATCH),
            "PARTNERCAST_RELOAD_SECONDS": "0",
        },
        workdir=store.root,
    )
    server.wait("/readyz")
    return server


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:
    with server.client(KEY) as client:
        yield client


@pytest.fixture(scope="module")
def forecaster(store: Store) -> PartnerForecaster:
    return champion_forecaster(store)


def _frame(forecasts: list[dict], key: str) -> pd.DataFrame:
    out = pd.DataFrame(forecasts)
    out["quarter_start"] = pd.to_datetime(out["quarter_start"])
    return out[[key, "quarter_start", "horizon", "p10", "p50", "p90"]]


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.reset_index(drop=True).copy()
    want["quarter_start"] = pd.to_datetime(want["quarter_start"])
    for column in want.columns:
        if want[column].dtype.kind == "f":
            np.testing.assert_allclose(got[column].to_numpy(), want[column].to_numpy(), rtol=1e-9)
        else:
            assert got[column].astype(str).tolist() == want[column].astype(str).tolist(), column


# -- happy paths -------------------------------------------------------------------
def test_forecast_matches_batch_scoring(api: httpx.Client, forecaster: PartnerForecaster) -> None:
    ids = [str(p) for p in forecaster.partner_ids[:7]][::-1]
    r = api.post("/forecast", json={"partner_ids": ids, "horizon": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == str(forecaster.as_of.date()) and body["model_version"] == "1"
    _same(_frame(body["forecasts"], "partner_id"), forecaster.forecast(ids, 3))
    assert all(f.get("drivers") is None for f in body["forecasts"])


def test_forecast_defaults_to_four_quarters_and_explains(
    api: httpx.Client, forecaster: PartnerForecaster
) -> None:
    pid = str(forecaster.partner_ids[3])
    r = api.post("/forecast", json={"partner_ids": [pid], "explain": True})
    assert r.status_code == 200, r.text
    forecasts = r.json()["forecasts"]
    assert [f["horizon"] for f in forecasts] == [1, 2, 3, 4]
    want = forecaster.drivers(forecaster.snapshot_rows([pid], 4))
    for f, drivers in zip(forecasts, want, strict=True):
        assert [d["feature"] for d in f["drivers"]] == [d["feature"] for d in drivers]
        np.testing.assert_allclose(
            [d["contribution"] for d in f["drivers"]], [d["contribution"] for d in drivers]
        )


@pytest.mark.parametrize("group_by", ["region", "total"])
def test_aggregate_matches_library(
    api: httpx.Client, forecaster: PartnerForecaster, group_by: str
) -> None:
    r = api.post("/forecast/aggregate", json={"group_by": group_by, "horizon": 2})
    assert r.status_code == 200, r.text
    _same(_frame(r.json()["forecasts"], "group"), forecaster.aggregate(group_by, 2))


def test_new_partner_matches_cold_start(api: httpx.Client, forecaster: PartnerForecaster) -> None:
    partner = {"tier": "gold", "region": "EMEA", "joined_on": "2023-10-01", "open_amount": 5e4}
    r = api.post("/forecast/new-partner", json={"partner": partner, "horizon": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["cold_start"] is True and len(body["forecasts"]) == 2
    want = forecaster.cold_start({**partner, "joined_on": pd.Timestamp("2023-10-01")}, 2)
    got = pd.DataFrame(body["forecasts"])
    got["quarter_start"] = pd.to_datetime(got["quarter_start"])
    _same(got[want.columns], want)


def test_model_info_names_the_champion(api: httpx.Client, store: Store) -> None:
    r = api.get("/model-info")
    assert r.status_code == 200, r.text
    body = r.json()
    (model,) = body["models"]
    version = MlflowClient(store.uri, store.uri).get_model_version_by_alias(
        FORECASTER_MODEL, "champion"
    )
    assert (model["name"], model["version"], model["run_id"]) == (
        FORECASTER_MODEL,
        str(version.version),
        version.run_id,
    )
    assert model["as_of"] == "2023-12-31" and "lightgbm.wape.all" in model["metrics"]
    assert {p["name"] for p in body["unavailable"]} == {"partnercast-recommender"}


@pytest.mark.parametrize("path", ["/recommend", "/rank"])
def test_incentive_endpoints_say_no_recommender_champion(api: httpx.Client, path: str) -> None:
    body = assert_error(api.post(path, json={}), 503)
    assert "partnercast-recommender" in body["error"]


def test_openapi_document_has_the_examples(api: httpx.Client) -> None:
    r = api.get("/docs.json")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert {"/forecast", "/forecast/aggregate", "/forecast/new-partner", "/recommend"} <= set(
        doc["paths"]
    )
    schema = doc["paths"]["/forecast"]["post"]["requestBody"]["content"]["application/json"]
    assert schema["schema"]["example"]["partner_ids"]


# -- bad requests ------------------------------------------------------------------
def test_unknown_partners_are_listed(api: httpx.Client, forecaster: PartnerForecaster) -> None:
    known = str(forecaster.partner_ids[0])
    r = api.post("/forecast", json={"partner_ids": [known, "NOPE-2", "NOPE-1"]})
    body = assert_error(r, 404)
    assert body["unknown_partner_ids"] == ["NOPE-1", "NOPE-2"]


@pytest.mark.parametrize(
    ("path", "payload", "mentions"),
    [
        ("/forecast", {"partner_ids": ["P00001"], "horizon": 5}, "horizon"),
        ("/forecast", {"partner_ids": ["P00001"], "horizon": 0}, "horizon"),
        ("/forecast", {"partner_ids": ["P00001"], "horizon": "two"}, "horizon"),
        ("/forecast", {"partner_ids": []}, "partner_ids"),
        ("/forecast", {"partner_ids": "P00001"}, "partner_ids"),
        ("/forecast", {"partner_ids": [1, 2]}, "partner_ids"),
        ("/forecast", {"partner_ids": ["P00001"], "explain": "yes"}, "explain"),
        ("/forecast", {"partner_ids": ["P00001"], "horizons": 2}, "horizons"),
        ("/forecast", {}, "partner_ids"),
        ("/forecast", [1, 2], "object"),
        ("/forecast/aggregate", {"group_by": "country"}, "group_by"),
        ("/forecast/aggregate", {"group_by": "region", "horizon": 9}, "horizon"),
        ("/forecast/new-partner", {"partner": {"joined_on": "not a date"}}, "joined_on"),
        ("/forecast/new-partner", {"partner": {"open_amount": "lots"}}, "open_amount"),
        ("/forecast/new-partner", {"horizon": 2}, "partner"),
        ("/recommend", {"budget": -5}, "budget"),
        ("/recommend", {"partner_ids": []}, "partner_ids"),
        ("/rank", {"top_k": 0}, "top_k"),
    ],
)
def test_invalid_bodies_say_what_to_fix(
    api: httpx.Client, path: str, payload: object, mentions: str
) -> None:
    body = assert_error(api.post(path, json=payload), 400)
    assert mentions in body["error"]


@pytest.mark.parametrize(
    "content", [b"{not json", b"", b"\xff\xfe", b"null", b'{"partner_ids": ["P1"]'], ids=repr
)
def test_malformed_json_is_a_400(api: httpx.Client, content: bytes) -> None:
    r = api.post("/forecast", content=content, headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_new_partner_checks_against_the_model(api: httpx.Client) -> None:
    body = assert_error(api.post("/forecast/new-partner", json={"partner": {"shoe_size": 9}}), 422)
    assert "shoe_size" in body["error"]
    late = {"partner": {"joined_on": "2030-01-01"}}
    body = assert_error(api.post("/forecast/new-partner", json=late), 422)
    assert "joined_on" in body["error"]


def test_oversized_batches_are_refused(api: httpx.Client) -> None:
    ids = [f"P{i:05d}" for i in range(MAX_BATCH + 1)]
    body = assert_error(api.post("/forecast", json={"partner_ids": ids}), 413)
    assert str(MAX_BATCH) in body["error"]


def test_unknown_routes_and_methods(api: httpx.Client) -> None:
    assert_error(api.get("/nothing-here"), 404)
    assert_error(api.get("/forecast"), 405)


# -- auth --------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
@pytest.mark.parametrize("method,path", [("POST", "/forecast"), ("GET", "/model-info")])
def test_missing_or_wrong_key_is_401(server: Server, headers: dict, method: str, path: str) -> None:
    r = httpx.request(method, server.url + path, json={"partner_ids": ["P00001"]}, headers=headers)
    body = assert_error(r, 401)
    assert "Bearer" in body["error"]


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_health_and_metrics_need_no_key(server: Server, path: str) -> None:
    assert httpx.get(server.url + path).status_code == 200


def test_metrics_count_requests(server: Server, api: httpx.Client) -> None:
    api.post("/forecast", json={"partner_ids": ["P00001"]})
    text = httpx.get(server.url + "/metrics").text
    assert 'endpoint="/forecast"' in text


# -- refresh (last: it promotes a new version) ---------------------------------------
def test_reload_picks_up_a_new_champion_without_failed_requests(
    api: httpx.Client, store: Store, forecaster: PartnerForecaster
) -> None:
    client = MlflowClient(store.uri, store.uri)
    current = client.get_model_version_by_alias(FORECASTER_MODEL, "champion")
    mlflow.set_registry_uri(store.uri)
    try:
        new = mlflow.register_model(current.source, FORECASTER_MODEL)
    finally:
        mlflow.set_registry_uri(None)
    client.set_registered_model_alias(FORECASTER_MODEL, "champion", new.version)

    ids = [str(p) for p in forecaster.partner_ids[:3]]
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = api.post("/forecast", json={"partner_ids": ids, "horizon": 1})
            statuses.append(r.status_code)
            if r.status_code == 200:
                versions.add(r.json()["model_version"])

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        r = api.post("/reload")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert r.status_code == 200, r.text
    assert [m["version"] for m in r.json()["models"]] == [str(new.version)]
    assert statuses and set(statuses) == {200}
    after = api.post("/forecast", json={"partner_ids": ids, "horizon": 1}).json()
    assert after["model_version"] == str(new.version)
    assert versions <= {str(current.version), str(new.version)}
