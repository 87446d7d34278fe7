"""``POST /experiments/plan`` and ``POST /experiments/report`` over real HTTP against a
trained recommender champion and the small world (PARTNERCAST_DATA_DIR).

Answers are compared with the library on the same champion and data; a reader may ask
(both only read), nobody without a key; bad requests are 4xx naming what to fix."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import Dataset, load_dataset
from features.names import RECOMMENDER_MODEL
from features.reporting.experiment_plan import plan_experiment
from features.reporting.experiments import REPORT_COLUMNS, read_experiment
from features.scoring import PartnerRecommender, load_champion
from serving.identity import key_hash

from .conftest import Server, Store, assert_error, with_recommender

pytestmark = pytest.mark.xdist_group("serving-experiments")

READER = "key-rita-reader"


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return with_recommender(trained_store, tmp_path_factory.mktemp("experiments-store"))


@pytest.fixture(scope="module")
def library(store: Store) -> PartnerRecommender:
    return load_champion(RECOMMENDER_MODEL, store.uri).model.recommender


@pytest.fixture(scope="module")
def data_dir(trained_store: Store) -> Path:
    """The world the champion was trained on (read only: other modules share it)."""
    return trained_store.root / "demo"


@pytest.fixture(scope="module")
def dataset(data_dir: Path) -> Dataset:
    return load_dataset(data_dir)


@pytest.fixture(scope="module")
def server(store: Store, data_dir: Path, server_factory, tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("experiments-keys")
    keys = [{"name": "rita", "role": "reader", "sha256": key_hash(READER)}]
    (folder / "keys.json").write_text(json.dumps(keys))
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_API_KEYS": str(folder / "keys.json"),
            "PARTNERCAST_RECORD_FORECASTS": "false",
            "PARTNERCAST_DATA_DIR": str(data_dir),
        },
        workdir=store.root,
    )
    server.wait("/readyz")
    return server


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:
    with server.client(READER) as client:
        yield client


def test_the_plan_matches_the_library(api, library, dataset) -> None:
    r = api.post("/experiments/plan", json={"share": 0.3, "budget": None, "seed": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    want = plan_experiment(library, dataset, share=0.3, seed=4, calendar=QuarterCalendar())
    got = pd.DataFrame(body["assignments"])
    assert list(got.columns[:4]) == ["partner_id", "arm", "stratum", "randomized"]
    rows = want.assignments
    assert got["partner_id"].tolist() == rows["partner_id"].tolist()
    assert got["arm"].tolist() == rows["arm"].tolist()
    assert got["randomized"].tolist() == rows["randomized"].tolist()
    assert body["quarter_start"] == str(want.quarter_start.date())
    assert body["exploration_cost"] == pytest.approx(want.exploration_cost)
    assert body["drawn"] == want.drawn == round(0.3 * len(rows))
    mde = pd.DataFrame(body["min_detectable_effect"])
    assert {"incentive", "segment", "mde"} <= set(mde.columns)
    np.testing.assert_allclose(mde["mde"], want.min_detectable_effect["mde"])
    again = api.post("/experiments/plan", json={"share": 0.3, "seed": 4}).json()
    assert again["assignments"] == body["assignments"]


def test_a_budget_caps_the_drawn_arms(api) -> None:
    free = api.post("/experiments/plan", json={"share": 0.5, "seed": 1}).json()
    budget = free["randomized_cost"] / 2
    capped = api.post("/experiments/plan", json={"share": 0.5, "seed": 1, "budget": budget})
    assert capped.status_code == 200, capped.text
    body = capped.json()
    assert body["randomized_cost"] <= budget
    assert body["drawn"] < free["drawn"]


def test_the_report_matches_the_library(api, library, dataset) -> None:
    r = api.post("/experiments/report", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    want = read_experiment(dataset, calendar=QuarterCalendar(), options=library.options)
    got = pd.DataFrame(body["effects"])
    assert list(got.columns[: len(REPORT_COLUMNS)]) == REPORT_COLUMNS
    assert len(got) == len(want.effects) > 0
    np.testing.assert_allclose(got["effect"], want.effects["effect"])
    np.testing.assert_allclose(got["ci_low"], want.effects["ci_low"])
    assert set(body["calibration"]) >= {"slope", "intercept", "slope_ci", "intercept_ci"}
    assert body["calibration"]["n_treated"] == want.calibration.n_treated
    quarter = got["quarter_start"].iloc[-1]
    one = api.post("/experiments/report", json={"quarter_start": quarter}).json()
    assert {row["quarter_start"] for row in one["effects"]} == {quarter}
    pooled = api.post("/experiments/report", json={"pooled": True}).json()
    assert all(row["quarters"] > 1 for row in pooled["effects"])


def test_they_need_a_key_and_a_reader_may_ask(server: Server) -> None:
    with server.client() as anonymous:
        assert_error(anonymous.post("/experiments/plan", json={"share": 0.2}), 401)
        assert_error(anonymous.post("/experiments/report", json={}), 401)
    with server.client("not-a-key") as stranger:
        assert_error(stranger.post("/experiments/report", json={}), 401)
    with server.client(READER) as reader:
        assert reader.post("/experiments/plan", json={"share": 0.2}).status_code == 200
        assert reader.post("/experiments/report", json={}).status_code == 200


@pytest.mark.parametrize(
    "path, body, says",
    [
        ("/experiments/plan", {"share": 0}, "share must be in (0, 1]"),
        ("/experiments/plan", {"share": 1.5}, "share"),
        ("/experiments/plan", {}, "share"),
        ("/experiments/plan", {"share": 0.2, "budget": -1}, "budget"),
        ("/experiments/plan", {"share": 0.2, "seed": "x"}, "seed"),
        ("/experiments/plan", {"share": 0.2, "seed": -1}, "seed"),
        ("/experiments/plan", {"share": 0.2, "sharee": 1}, "sharee"),
        ("/experiments/report", {"quarter_start": "2030-01-01"}, "incentives: no randomized"),
        ("/experiments/report", {"quarter_start": "not a date"}, "quarter_start"),
        ("/experiments/report", {"quarter_start": "0001-01-01"}, "not a usable date"),
    ],
)
def test_bad_requests_are_4xx_naming_what_to_fix(api, path, body, says) -> None:
    semantic = "2030" in json.dumps(body) or "0001" in json.dumps(body) or body == {"share": 0}
    answer = assert_error(api.post(path, json=body), 422 if semantic else 400)
    assert says in json.dumps(answer)
