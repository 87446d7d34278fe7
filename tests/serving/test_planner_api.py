"""The planner's endpoints over real HTTP: quota odds (POST /forecast/attainment),
overrides with their roll-ups, and who may do what (named API keys with roles).

One server over a copy of the small world with a ``targets`` table and a keys file;
quota odds are compared with the library (:func:`features.reporting.quota_odds`) on the
same data and champion.
"""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import load_dataset
from features.names import FORECASTER_MODEL
from features.reporting import quota_odds
from features.reporting.overrides import OverrideBook
from features.scoring import load_champion
from serving.identity import key_hash

from .conftest import Server, Store, assert_error, champion_forecaster

pytestmark = pytest.mark.xdist_group("serving-planner")

AS_OF = "2023-11-15"  # mid Q4 2023 in the small world (which ends 2023-12-31)
Q4, Q1 = "2023-10-01", "2024-01-01"
KEYS = {"reader": "key-rita-reader", "planner": "key-pat-planner", "admin": "key-ada-admin"}
NAMES = {"reader": "rita", "planner": "pat", "admin": "ada"}


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
def env(trained_store: Store, data_dir, tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("planner-ledger")
    keys = [
        {"name": NAMES[role], "role": role, "sha256": key_hash(key)} for role, key in KEYS.items()
    ]
    (folder / "keys.json").write_text(json.dumps(keys))
    return {
        "MLFLOW_TRACKING_URI": trained_store.uri,
        "PARTNERCAST_RELOAD_SECONDS": "0",
        "PARTNERCAST_DATA_DIR": str(data_dir),
        "PARTNERCAST_LEDGER_URL": f"sqlite:///{folder / 'ledger.db'}",
        "PARTNERCAST_API_KEYS": str(folder / "keys.json"),
        "PARTNERCAST_API_KEY": "the-old-single-key",
    }


@pytest.fixture(scope="module")
def server(trained_store: Store, env, server_factory) -> Server:
    server = server_factory(env, workdir=trained_store.root)
    server.wait("/readyz")
    return server


@pytest.fixture(scope="module")
def api(server: Server) -> httpx.Client:
    """A reader: quota odds only read."""
    with server.client(KEYS["reader"]) as client:
        yield client


@pytest.fixture(scope="module")
def planner(server: Server) -> httpx.Client:
    with server.client(KEYS["planner"]) as client:
        yield client


@pytest.fixture(scope="module")
def admin(server: Server) -> httpx.Client:
    with server.client(KEYS["admin"]) as client:
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


# -- overrides -------------------------------------------------------------------------
def model_forecast(client, partner_id, quarter):
    r = client.post("/forecast", json={"partner_ids": [partner_id], "horizon": 4})
    assert r.status_code == 200, r.text
    return next(f for f in r.json()["forecasts"] if f["quarter_start"] == quarter)


def group_forecast(client, group_by, group, quarter):
    r = client.post("/forecast/aggregate", json={"group_by": group_by, "horizon": 4})
    assert r.status_code == 200, r.text
    return next(
        f for f in r.json()["forecasts"] if f["group"] == group and f["quarter_start"] == quarter
    )


def test_roles_and_keys(server, api, planner):
    body = {"partner_id": "P00001", "quarter_start": Q1, "p50": 1.0, "reason": "x"}
    with server.client() as anonymous:
        assert_error(anonymous.post("/forecast/overrides", json=body), 401)
        assert_error(anonymous.get("/forecast/overrides"), 401)
        assert_error(anonymous.delete("/forecast/overrides/abc"), 401)
    with server.client("wrong") as wrong:
        assert_error(wrong.get("/forecast/overrides"), 401)
    reader_says = assert_error(api.post("/forecast/overrides", json=body), 403)
    assert "rita (reader)" in reader_says["error"]
    assert_error(api.delete("/forecast/overrides/abc"), 403)
    assert_error(api.post("/reload"), 403)
    assert_error(planner.post("/reload"), 403)
    assert api.get("/forecast/overrides").status_code == 200  # readers read
    assert api.post("/forecast", json={"partner_ids": ["P00001"]}).status_code == 200
    with server.client("the-old-single-key") as single:  # PARTNERCAST_API_KEY still works
        assert single.get("/model-info").status_code == 200


def test_partner_override_shows_beside_the_model(api, planner, env):
    pid = "P00002"
    before = model_forecast(api, pid, Q1)
    assert before["p50_final"] == before["p50"] and before["override"] is None
    r = planner.post(
        "/forecast/overrides",
        json={
            "partner_id": pid,
            "quarter_start": Q1,
            "p50": before["p50"] + 5000.0,
            "reason": "  renewal pulled into Q1  ",
        },
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["author"] == "pat" and made["partner_id"] == pid
    assert made["reason"] == "renewal pulled into Q1"
    assert made["p50_model"] == pytest.approx(before["p50"])
    after = model_forecast(api, pid, Q1)
    assert (after["p10"], after["p50"], after["p90"]) == (
        before["p10"],
        before["p50"],
        before["p90"],
    )
    assert after["p50_final"] == pytest.approx(before["p50"] + 5000.0)
    assert after["override"]["override_id"] == made["override_id"]
    other = model_forecast(api, pid, "2024-04-01")
    assert other["p50_final"] == other["p50"]  # only the quarter overridden
    listed = api.get("/forecast/overrides", params={"partner_id": pid}).json()["overrides"]
    assert [o["override_id"] for o in listed] == [made["override_id"]]
    assert api.get("/forecast/overrides", params={"quarter_start": "2024-04-01"}).json() == {
        "overrides": []
    }
    # a newer override of the same quarter replaces it
    again = planner.post(
        "/forecast/overrides",
        json={
            "partner_id": pid,
            "quarter_start": Q1,
            "p50": before["p50"] + 7000.0,
            "reason": "bigger",
        },
    ).json()
    listed = api.get("/forecast/overrides", params={"partner_id": pid}).json()["overrides"]
    assert [o["override_id"] for o in listed] == [again["override_id"]]
    assert model_forecast(api, pid, Q1)["p50_final"] == pytest.approx(before["p50"] + 7000.0)
    audit = OverrideBook(env["PARTNERCAST_LEDGER_URL"]).audit()
    assert (audit["action"] == "override_add").sum() >= 2 and set(audit["actor"]) >= {"pat"}


def test_group_totals_include_partner_overrides(api, planner, admin):
    pid = "P00003"
    region = load_region(api, pid)
    base_region = group_forecast(api, "region", region, Q1)
    base_total = group_forecast(api, "total", "total", Q1)
    partner = model_forecast(api, pid, Q1)
    r = planner.post(
        "/forecast/overrides",
        json={
            "partner_id": pid,
            "quarter_start": Q1,
            "p50": partner["p50"] + 1000.0,
            "reason": "new logo signed",
        },
    )
    assert r.status_code == 201, r.text
    delta_before = base_total["partner_adjustment"]  # overrides of other tests
    reg = group_forecast(api, "region", region, Q1)
    tot = group_forecast(api, "total", "total", Q1)
    assert reg["p50"] == base_region["p50"]  # the model's own number
    assert reg["partner_adjustment"] == pytest.approx(base_region["partner_adjustment"] + 1000.0)
    assert reg["p50_final"] == pytest.approx(reg["p50"] + reg["partner_adjustment"])
    assert tot["partner_adjustment"] == pytest.approx(delta_before + 1000.0)
    assert reg["override"] is None and reg["override_gap_to_partners"] is None
    # a group override: its value stands, with its gap to the sum of its partners
    r = admin.post(
        "/forecast/overrides",
        json={
            "group_by": "total",
            "quarter_start": Q1,
            "p50": tot["p50"] * 0.9,
            "reason": "top-down plan",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["group_by"] == "total" and r.json()["group"] == "total"
    assert r.json()["author"] == "ada"
    tot = group_forecast(api, "total", "total", Q1)
    assert tot["p50_final"] == pytest.approx(tot["p50"] * 0.9)
    bottom_up = tot["p50"] + tot["partner_adjustment"]
    assert tot["override_gap_to_partners"] == pytest.approx(tot["p50"] * 0.9 - bottom_up)
    # removing it leaves the model's forecast (plus the partners' overrides)
    assert admin.delete(f"/forecast/overrides/{r.json()['override_id']}").status_code == 204
    assert_error(admin.delete(f"/forecast/overrides/{r.json()['override_id']}"), 404)
    tot = group_forecast(api, "total", "total", Q1)
    assert tot["override"] is None
    assert tot["p50_final"] == pytest.approx(tot["p50"] + tot["partner_adjustment"])


def load_region(api, pid):
    r = api.post("/kpis", json={"partner_ids": [pid]})
    return r.json()["kpis"][0]["region"]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"partner_id": "P00001", "quarter_start": Q1, "p50": 1.0}, 400),  # no reason
        ({"partner_id": "P00001", "quarter_start": Q1, "p50": 1.0, "reason": "   "}, 400),
        ({"partner_id": "P00001", "quarter_start": Q1, "p50": "1", "reason": "x"}, 400),
        ({"partner_id": "P00001", "quarter_start": "soon", "p50": 1.0, "reason": "x"}, 400),
        ({"partner_id": "P00001", "quarter_start": Q1, "p50": 1.0, "reason": "x", "who": 1}, 400),
        ({"quarter_start": Q1, "p50": 1.0, "reason": "x"}, 422),  # neither partner nor group
        (
            {
                "partner_id": "P00001",
                "group_by": "region",
                "group": "EMEA",
                "quarter_start": Q1,
                "p50": 1.0,
                "reason": "x",
            },
            422,
        ),
        ({"group_by": "region", "quarter_start": Q1, "p50": 1.0, "reason": "x"}, 422),
        (
            {
                "group_by": "region",
                "group": "Atlantis",
                "quarter_start": Q1,
                "p50": 1.0,
                "reason": "x",
            },
            422,
        ),
        ({"partner_id": "NOPE", "quarter_start": Q1, "p50": 1.0, "reason": "x"}, 404),
        ({"partner_id": "P00001", "quarter_start": "2023-10-01", "p50": 1.0, "reason": "x"}, 422),
        ({"partner_id": "P00001", "quarter_start": "2024-01-15", "p50": 1.0, "reason": "x"}, 422),
    ],
)
def test_bad_override_bodies_write_nothing(planner, api, body, status):
    before = api.get("/forecast/overrides").json()["overrides"]
    assert_error(planner.post("/forecast/overrides", json=body), status)
    assert api.get("/forecast/overrides").json()["overrides"] == before


def test_malformed_override_requests(planner, api):
    assert_error(planner.post("/forecast/overrides", content=b"{"), 400)
    assert_error(planner.post("/forecast/overrides", content=b"[]"), 400)
    raw = b'{"partner_id": "P00001", "quarter_start": "2024-01-01", "p50": NaN, "reason": "x"}'
    assert_error(planner.post("/forecast/overrides", content=raw), 400)
    assert_error(
        planner.post("/forecast/overrides", content=b"{}", headers={"Content-Type": "text/plain"}),
        415,
    )
    assert_error(api.get("/forecast/overrides", params={"quarter_start": "Q1"}), 400)


def test_reload_is_audited(admin, env):
    assert admin.post("/reload").status_code == 200
    audit = OverrideBook(env["PARTNERCAST_LEDGER_URL"]).audit()
    reloads = audit[audit["action"] == "reload"]
    assert reloads["actor"].tolist()[-1] == "ada"


def test_the_document_lists_the_planner_endpoints(api):
    doc = api.get("/docs.json").json()
    assert "post" in doc["paths"]["/forecast/attainment"]
    assert {"post", "get"} <= set(doc["paths"]["/forecast/overrides"])
    assert "delete" in doc["paths"]["/forecast/overrides/{override_id}"]


# -- changes ---------------------------------------------------------------------------
def test_changes_add_up_and_match_the_library(server, api, trained_store, data_dir, env):
    from features.reporting.changes import CAUSES, ledger_changes

    # an override of its own, so the test holds whichever of this module's tests ran before
    with server.client(KEYS["planner"]) as planner:
        p50 = model_forecast(planner, "P00005", Q1)["p50"] + 3000.0
        body = {"partner_id": "P00005", "quarter_start": Q1, "p50": p50, "reason": "changes"}
        assert planner.post("/forecast/overrides", json=body).status_code == 201
    r = api.post("/forecast/changes", json={"since": "2023-10-31", "top_k": 500})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quarter_start"] == Q1 and body["as_of"] == "2023-12-31"
    rows = body["changes"]
    assert rows and all(
        sum(x["amount"] for x in row["reasons"]) == pytest.approx(row["delta"], abs=1e-6)
        for row in rows
    )
    assert all(row["p50_now"] - row["p50_then"] == pytest.approx(row["delta"]) for row in rows)
    deltas = [abs(row["delta"]) for row in rows]
    assert deltas == sorted(deltas, reverse=True)
    champion = load_champion(FORECASTER_MODEL, trained_store.uri)
    expected, _ = ledger_changes(
        load_dataset(data_dir),
        champion.model.forecaster,
        ledger_url=env["PARTNERCAST_LEDGER_URL"],
        since=pd.Timestamp("2023-10-31"),
        as_of=pd.Timestamp("2023-12-31"),
        calendar=QuarterCalendar(),
        model_name=champion.name,
        model_version=champion.version,
    )
    got = {row["partner_id"]: row for row in rows}
    for record in expected.head(len(rows)).to_dict("records"):
        row = got[record["key"]]
        assert row["delta"] == pytest.approx(record["delta"])
        amounts = {x["cause"]: x["amount"] for x in row["reasons"]}
        for cause in CAUSES:
            assert amounts.get(cause, 0.0) == pytest.approx(record[cause], abs=1e-6)
    # the overrides planners made (earlier tests) are a cause of their own
    overridden = {o["partner_id"] for o in api.get("/forecast/overrides").json()["overrides"]}
    assert any(
        x["cause"] == "override" for pid in overridden & got.keys() for x in got[pid]["reasons"]
    )


def test_group_changes_and_bad_requests(api):
    r = api.post("/forecast/changes", json={"since": "2023-10-31", "group_by": "total"})
    assert r.status_code == 200, r.text
    (total,) = r.json()["changes"]
    assert total["group"] == "total"
    assert sum(x["amount"] for x in total["reasons"]) == pytest.approx(total["delta"])
    assert_error(api.post("/forecast/changes", json={"since": "2024-01-15"}), 422)
    assert_error(api.post("/forecast/changes", json={"since": "2020-01-01"}), 422)
    assert_error(
        api.post("/forecast/changes", json={"since": "2023-10-31", "quarter_start": "2024-02-01"}),
        422,
    )
    assert_error(api.post("/forecast/changes", json={}), 400)
    assert_error(api.post("/forecast/changes", json={"since": "2023-10-31", "top_k": 0}), 400)
    assert_error(api.post("/forecast/changes", json={"since": "yesterday"}), 400)


def test_the_changes_cli(trained_store, data_dir, env, tmp_path, monkeypatch):
    from training.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", env["PARTNERCAST_LEDGER_URL"])
    out, weeks = tmp_path / "changes.csv", tmp_path / "weeks.csv"
    args = ["changes", "--data", str(data_dir), "--since", "2023-10-31", "--out", str(out)]
    assert main([*args, "--group-by", "region", "--snapshots", str(weeks)]) == 0
    frame = pd.read_csv(out, keep_default_na=False)
    from features.reporting.changes import CAUSES

    assert (frame[list(CAUSES)].sum(axis=1) - frame["delta"]).abs().max() < 1e-6
    assert set(pd.read_csv(weeks).columns) == {"week_end", "group", "p50", "partners"}
    assert main([*args[:-4], "--since", "2024-02-01", "--out", str(out)]) == 2


# last: it stops the module's server
def test_overrides_survive_a_restart(server, env, trained_store, server_factory):
    # one of its own, so the test holds whichever of this module's tests ran before it
    with server.client(KEYS["planner"]) as planner:
        p50 = model_forecast(planner, "P00004", Q1)["p50"] + 2500.0
        body = {"partner_id": "P00004", "quarter_start": Q1, "p50": p50, "reason": "restart"}
        assert planner.post("/forecast/overrides", json=body).status_code == 201
    with server.client(KEYS["reader"]) as reader:
        kept = reader.get("/forecast/overrides").json()["overrides"]
    assert "P00004" in [o["partner_id"] for o in kept]
    server.stop()
    again = server_factory(env, workdir=trained_store.root)
    again.wait("/readyz")
    with again.client(KEYS["reader"]) as reader:
        assert reader.get("/forecast/overrides").json()["overrides"] == kept
        pid = kept[0]["partner_id"]
        row = model_forecast(reader, pid, kept[0]["quarter_start"])
        assert row["p50_final"] == pytest.approx(kept[0]["p50"])


def test_the_override_cli(trained_store, tmp_path, monkeypatch, capsys):
    from training.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", url)
    add = ["override", "add", "--quarter", Q1, "--reason", "slipped", "--author", "pat"]
    assert main([*add, "--partner", "P00001", "--p50", "1234.5"]) == 0
    assert main([*add, "--group-by", "total", "--p50", "1e6"]) == 0
    assert main([*add, "--partner", "NOPE", "--p50", "1"]) == 2
    assert main([*add, "--partner", "P00001", "--p50", "1", "--group-by", "tier"]) == 2
    assert main(["override", "add", "--partner", "P00001", "--quarter", "2024-02-01",
                 "--p50", "1", "--reason", "x"]) == 2  # fmt: skip
    with pytest.raises(SystemExit) as exited:
        main(["override", "add", "--partner", "P00001", "--quarter", Q1, "--p50", "1"])
    assert exited.value.code == 2  # --reason is required
    book = OverrideBook(url).overrides()
    assert book["key"].tolist() == ["P00001", "total"]
    assert book["author"].tolist() == ["pat", "pat"]
    expected = champion_forecaster(trained_store).forecast(["P00001"], 1)["p50"].iloc[0]
    assert book["p50_model"].iloc[0] == pytest.approx(expected)
    out = tmp_path / "overrides.csv"
    assert main(["override", "remove", book["override_id"].iloc[0]]) == 0
    assert main(["override", "remove", book["override_id"].iloc[0]]) == 2
    assert main(["override", "list", "--all", "--out", str(out)]) == 0
    written = pd.read_csv(out)
    assert len(written) == 2 and written["removed_at"].notna().tolist() == [True, False]
    assert "T" in written["created_at"].iloc[0]  # an instant, not a date
