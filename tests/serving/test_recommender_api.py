"""/recommend and /rank over real HTTP against a trained recommender champion.

Answers are compared with the library's own scoring object (the champion's
``PartnerRecommender``) on the same requests; the budget is respected exactly.
"""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from features.names import RECOMMENDER_MODEL
from features.scoring import PartnerRecommender, load_champion

from .conftest import Server, Store, assert_error, with_recommender

pytestmark = pytest.mark.xdist_group("serving-recommender")


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A copy of the forecaster store with a recommender champion trained into it."""
    return with_recommender(trained_store, tmp_path_factory.mktemp("rec-store"))


@pytest.fixture(scope="module")
def library(store: Store) -> PartnerRecommender:
    return load_champion(RECOMMENDER_MODEL, store.uri).model.recommender


@pytest.fixture(scope="module")
def api(store: Store, server_factory) -> httpx.Client:
    server: Server = server_factory(
        {"MLFLOW_TRACKING_URI": store.uri, "PARTNERCAST_RELOAD_SECONDS": "0"},
        workdir=store.root,
    )
    server.wait("/readyz")
    with server.client() as client:
        yield client


def test_recommend_matches_the_library_and_keeps_the_budget(api, library) -> None:
    ids = library.options["partner_id"][:6].astype(str).tolist()
    free = library.recommend(ids)
    budget = float(free["cost"].sum()) / 2
    r = api.post("/recommend", json={"partner_ids": ids, "budget": budget})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = library.recommend(ids, budget=budget).set_index("partner_id")
    got = pd.DataFrame(body["recommendations"]).set_index("partner_id")
    assert got.index.tolist() == ids
    assert got["incentive"].tolist() == expected["incentive"].tolist()
    pd.testing.assert_series_equal(
        got["expected_net"], expected["expected_net"], check_names=False, check_index_type=False
    )
    assert body["total_cost"] <= budget + 1e-9
    first = body["recommendations"][0]
    assert {o["incentive"] for o in first["options"]} == set(library.incentives)
    # issue 16: the corrected net and its 80 % interval, for the choice and every option
    for rec in [first, *first["options"]]:
        assert rec["expected_net_low"] <= rec["expected_net"] + 1e-6
        assert rec["expected_net"] <= rec["expected_net_high"] + 1e-6
        assert rec["expected_uplift_low"] <= rec["expected_uplift_high"]


def test_allowed_incentives_and_cost_overrides(api, library) -> None:
    ids = library.options["partner_id"][:4].astype(str).tolist()
    only = library.incentives[0]
    r = api.post(
        "/recommend", json={"partner_ids": ids, "incentives": [only], "costs": {only: 0.0}}
    )
    assert r.status_code == 200, r.text
    expected = library.recommend(ids, allowed=[only], cost_overrides={only: 0.0})
    got = [x["incentive"] for x in r.json()["recommendations"]]
    assert got == expected["incentive"].tolist()
    assert set(got) <= {only, "none"}


def test_rank_matches_the_library(api, library) -> None:
    r = api.post("/rank", json={"top_k": 5})
    assert r.status_code == 200, r.text
    expected = library.rank(top_k=5)
    partners = r.json()["partners"]
    assert [p["partner_id"] for p in partners] == expected["partner_id"].astype(str).tolist()
    assert [p["rank"] for p in partners] == [1, 2, 3, 4, 5]
    assert all(p["reasons"] for p in partners)
    region = str(library.attributes["region"].iloc[0])
    filtered = api.post("/rank", json={"top_k": 50, "region": region}).json()["partners"]
    allowed = set(library.attributes.loc[library.attributes["region"] == region, "partner_id"])
    assert filtered and {p["partner_id"] for p in filtered} <= allowed


def test_recommend_bad_requests(api) -> None:
    body = assert_error(api.post("/recommend", json={"partner_ids": ["NOPE"]}), 404)
    assert body["unknown_partner_ids"] == ["NOPE"]
    assert_error(api.post("/recommend", json={"partner_ids": None, "budget": -1}), 400)
    assert_error(api.post("/recommend", json={"partner_ids": []}), 400)
