"""``POST /what-if`` over real HTTP against a trained recommender champion.

Answers are compared with the library (:func:`features.reporting.what_if`) on the same
champion and plan; a reader may ask (it only reads), nobody without a key; every bad
plan or body is a 4xx that says what to fix, never a 500.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.names import RECOMMENDER_MODEL
from features.reporting import evaluate_plan
from features.scoring import PartnerRecommender, load_champion
from serving.identity import key_hash

from .conftest import Server, Store, assert_error, with_recommender

pytestmark = pytest.mark.xdist_group("serving-what-if")

READER = "key-rita-reader"


@pytest.fixture(scope="module")
def store(trained_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Store:
    return with_recommender(trained_store, tmp_path_factory.mktemp("what-if-store"))


@pytest.fixture(scope="module")
def library(store: Store) -> PartnerRecommender:
    return load_champion(RECOMMENDER_MODEL, store.uri).model.recommender


@pytest.fixture(scope="module")
def server(store: Store, server_factory, tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp("what-if-keys")
    keys = [{"name": "rita", "role": "reader", "sha256": key_hash(READER)}]
    (folder / "keys.json").write_text(json.dumps(keys))
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_API_KEYS": str(folder / "keys.json"),
            "PARTNERCAST_RECORD_FORECASTS": "false",
        },
        workdir=store.root,
    )
    server.wait("/readyz")
    return server


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:
    with server.client(READER) as client:
        yield client


def a_plan(library: PartnerRecommender) -> list[dict]:
    """A region row, a more specific region+tier row, and a partner row inside both."""
    attrs = library.attributes.astype(str)
    first = attrs.iloc[0]
    names = library.incentives
    return [
        {"region": first["region"], "incentive": names[0]},
        {"region": first["region"], "tier": first["tier"], "incentive": names[-1]},
        {"partner_id": first["partner_id"], "incentive": "none"},
    ]


def by_group(groups) -> pd.DataFrame:
    return pd.DataFrame(groups).set_index(["group_by", "group"]).sort_index()


def test_a_plan_matches_the_library(api, library) -> None:
    plan = a_plan(library)
    r = api.post("/what-if", json={"plan": plan, "budget": None})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = evaluate_plan(library, plan, calendar=QuarterCalendar())
    got, want = by_group(body["groups"]), expected.groups.set_index(["group_by", "group"])
    want = want.sort_index()
    assert got.index.tolist() == want.index.tolist()
    for column in ("delta_p10", "delta_p50", "delta_p90", "cost", "expected_net"):
        np.testing.assert_allclose(got[column], want[column], rtol=1e-9, err_msg=column)
    assert set(got.index.get_level_values("group_by")) == {
        "region",
        "tier",
        "partner_type",
        "total",
    }
    total = got.loc[("total", "total")]
    assert body["cost"] == pytest.approx(total["cost"])
    assert body["expected_net"] == pytest.approx(total["expected_net"])
    assert body["expected_net_p10"] == pytest.approx(total["delta_p10"] - total["cost"])
    assert body["expected_net_p10"] <= body["expected_net"] <= body["expected_net_p90"]
    assert body["quarter_start"] == str(expected.quarter_start.date())
    assert [row["partners"] for row in body["rows"]] == expected.rows["partners"].tolist()
    assert body["rows"][2]["partners"] == 1  # the partner row beats both segment rows


def test_a_budget_drops_rows_and_the_recommenders_plan_keeps_it(api, library) -> None:
    plan = a_plan(library)
    free = api.post("/what-if", json={"plan": plan}).json()
    costly = max(free["rows"], key=lambda row: row["cost"])
    budget = costly["cost"] / 2
    r = api.post("/what-if", json={"plan": plan, "budget": budget})
    assert r.status_code == 200, r.text
    body = r.json()
    assert costly["row"] in body["dropped_rows"]
    assert body["cost"] <= budget
    expected = evaluate_plan(library, plan, budget=budget, calendar=QuarterCalendar())
    assert body["dropped_rows"] == expected.dropped_rows
    recommended = api.post("/what-if", json={"plan": None, "budget": budget}).json()
    chosen = library.recommend(None, budget=budget)
    assert (
        recommended["cost"] == pytest.approx(chosen["cost"].sum()) and recommended["cost"] <= budget
    )
    assert recommended["expected_net"] == pytest.approx(chosen["expected_net"].sum())
    assert recommended["rows"] == [] and recommended["dropped_rows"] == []


def test_it_needs_a_key_and_a_reader_may_ask(server: Server) -> None:
    with server.client() as anonymous:
        assert_error(anonymous.post("/what-if", json={}), 401)
    with server.client(READER) as reader:
        assert reader.post("/what-if", json={}).status_code == 200


@pytest.mark.parametrize(
    "body, status, says",
    [
        (
            {"plan": [{"partner_id": "NOPE", "incentive": "none"}]},
            404,
            "unknown to the recommender",
        ),
        (
            {"plan": [{"region": "EMEA", "incentive": "bribe"}]},
            422,
            "unknown incentive(s) ['bribe']",
        ),
        ({"plan": [{"incentive": "none"}]}, 422, "plan[0]: neither partner_id nor a segment"),
        ({"plan": [{"region": "Atlantis", "incentive": "none"}]}, 422, "matches no partner"),
        ({"plan": []}, 422, "the plan has no rows"),
        ({"plan": [{"partner_id": "x"}]}, 400, "incentive"),
        ({"plan": [{"partner": "x", "incentive": "none"}]}, 400, "partner"),
        ({"plan": "all"}, 400, "plan"),
        ({"budget": -1}, 400, "budget"),
        ({"budget": "lots"}, 400, "budget"),
        ({"plans": []}, 400, "plans"),
    ],
)
def test_bad_bodies_are_4xx_that_say_what_to_fix(api, body, status, says) -> None:
    error = assert_error(api.post("/what-if", json=body), status)
    assert says in error["error"]
    if status == 404:
        assert error["unknown_partner_ids"] == ["NOPE"]


def test_conflicting_and_repeated_rows_name_the_rows(api, library) -> None:
    attrs = library.attributes.astype(str).iloc[0]
    names = library.incentives
    clash = [
        {"region": attrs["region"], "incentive": names[0]},
        {"tier": attrs["tier"], "incentive": names[-1]},
    ]
    error = assert_error(api.post("/what-if", json={"plan": clash}), 422)
    assert "conflicting plan rows plan[0]" in error["error"]
    assert error["rows"] == ["plan[0]", "plan[1]"] and error["conflicting_partner_ids"]
    twice = [{"partner_id": attrs["partner_id"], "incentive": "none"}] * 2
    error = assert_error(api.post("/what-if", json={"plan": twice}), 422)
    assert "twice" in error["error"]
    bad_json = api.post(
        "/what-if", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(bad_json, 400)
