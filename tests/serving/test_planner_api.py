"""The planner's endpoints over real HTTP: quota odds (POST /forecast/attainment).

One server over a copy of the small world with a ``targets`` table; answers are compared
with the library (:func:`features.reporting.quota_odds`) on the same data and champion.
"""

from __future__ import annotations

import shutil

import httpx
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import load_dataset
from features.reporting import quota_odds

from .conftest import Server, Store, assert_error, champion_forecaster

pytestmark = pytest.mark.xdist_group("serving-planner")

AS_OF = "2023-11-15"  # mid Q4 2023 in the small world (which ends 2023-12-31)
Q4, Q1 = "2023-10-01", "2024-01-01"


def write_targets(folder, partner_ids) -> None:
    rows = [
        ("2023-10-01", "partner", pid, 40_000.0 + 1_000 * i) for i, pid in enumerate(partner_ids)
    ]
    rows += [("2024-01-01", "partner", pid, 45_000.0) for pid in partner_ids[:3]]
    rows += [("2023-10-01", "total", "", 2_000_000.0), ("2023-10-01", "region", "EMEA", 600_000.0)]
    frame = pd.DataFrame(rows, columns=["quarter_start", "level", "key", "target"])
    frame.to_csv(folder / "targets.csv", index=False)


@pytest.fixture(scope="module")
def data_dir(trained_store: Store, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("planner-data") / "data"
    shutil.copytree(trained_store.root / "demo", folder, ignore=shutil.ignore_patterns("_truth"))
    partners = load_dataset(folder).partners
    ids = partners.loc[partners["joined_on"] < "2023-01-01", "partner_id"].astype(str).tolist()[:6]
    write_targets(folder, ids)
    return folder


@pytest.fixture(scope="module")
def server(trained_store: Store, data_dir, server_factory, tmp_path_factory) -> Server:
    ledger = tmp_path_factory.mktemp("planner-ledger") / "ledger.db"
    server = server_factory(
        {
            "MLFLOW_TRACKING_URI": trained_store.uri,
            "PARTNERCAST_RELOAD_SECONDS": "0",
            "PARTNERCAST_DATA_DIR": str(data_dir),
            "PARTNERCAST_LEDGER_URL": f"sqlite:///{ledger}",
        },
        workdir=trained_store.root,
    )
    server.wait("/readyz")
    return server


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:
    with server.client() as client:
        yield client


def library_odds(store, data_dir, quarter, group_by=None) -> pd.DataFrame:
    return quota_odds(
        load_dataset(data_dir),
        as_of=pd.Timestamp(AS_OF),
        quarter_start=pd.Timestamp(quarter),
        calendar=QuarterCalendar(),
        group_by=group_by,
        forecaster=champion_forecaster(store),
    )


COMPARED = ["target", "booked_to_date", "p10", "p50", "p90", "gap_p50", "prob_reach_target"]


@pytest.mark.parametrize(
    "quarter, group_by, key",
    [
        (Q4, None, "partner_id"),
        (Q1, None, "partner_id"),
        (Q4, "total", "group"),
        (Q4, "region", "group"),
    ],
)
def test_attainment_matches_the_library(api, trained_store, data_dir, quarter, group_by, key):
    r = api.post(
        "/forecast/attainment",
        json={"as_of": AS_OF, "quarter_start": quarter, "group_by": group_by},
    )
    assert r.status_code == 200, r.text
    got = pd.DataFrame(r.json()["attainment"])
    expected = library_odds(trained_store, data_dir, quarter, group_by)
    assert len(got) == len(expected) > 0
    assert got[key].tolist() == expected[key].astype(str).tolist()
    for column in COMPARED:
        np.testing.assert_allclose(
            got[column].astype(float), expected[column].astype(float), rtol=1e-9, err_msg=column
        )
    assert got["prob_reach_target"].between(0, 1).all()
    if quarter == Q1:
        assert (got["booked_to_date"] == 0).all() and (got["quarter_elapsed"] == 0).all()


def test_attainment_defaults_and_selection(api, data_dir):
    r = api.post("/forecast/attainment", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quarter_start"] == Q4 and body["as_of"] == "2023-12-31"
    # the quarter is over: its revenue is what was booked, a sure thing
    assert all(row["prob_reach_target"] in (0.0, 1.0) for row in body["attainment"])
    wanted = [row["partner_id"] for row in body["attainment"]][1:3]
    r = api.post("/forecast/attainment", json={"partner_ids": wanted, "as_of": AS_OF})
    assert [row["partner_id"] for row in r.json()["attainment"]] == wanted


def test_attainment_bad_requests(api):
    assert_error(api.post("/forecast/attainment", json={"quarter_start": "2023-11-01"}), 422)
    assert_error(api.post("/forecast/attainment", json={"quarter_start": "2030-01-01"}), 422)
    body = assert_error(api.post("/forecast/attainment", json={"partner_ids": ["NOPE"]}), 404)
    assert body["unknown_partner_ids"] == ["NOPE"]
    assert_error(
        api.post("/forecast/attainment", json={"partner_ids": ["x"], "group_by": "tier"}), 422
    )
    assert_error(api.post("/forecast/attainment", json={"group_by": "planet"}), 400)
    assert_error(api.post("/forecast/attainment", json={"quarter_start": 3}), 400)
    assert_error(api.post("/forecast/attainment", content=b"{"), 400)


def test_kpis_carry_the_quota_odds(api):
    r = api.post("/kpis", json={"as_of": AS_OF})
    assert r.status_code == 200, r.text
    rows = [row for row in r.json()["kpis"] if row["target"] is not None]
    assert len(rows) == 6
    assert sum(row["target_next"] is not None for row in rows) == 3
    assert all(0 <= row["prob_reach_target"] <= 1 for row in rows)
