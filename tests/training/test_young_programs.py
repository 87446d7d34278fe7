"""Young programs and short exports (issue 22): the folds a history allows, the sales-ops
champion below any backtest, and exit 2 with a readable report for every data condition
that cannot train, never a traceback."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import ShortHistory, load_dataset
from features.world import simulate_world, write_world
from training.cli import main
from training.forecast import rolling_origin_folds, usable_folds
from training.forecast.sales_ops_model import MIN_ERRORS, error_spreads
from training.forecast.training_data import MIN_PARTNERS, check_history
from training.jobs import forecaster_run as train_module

TABLES = ("partners", "bookings", "opportunities", "activities", "incentives")


# -- folds a history allows ------------------------------------------------------------
def _frame(cutoffs: int) -> pd.DataFrame:
    ends = pd.date_range("2022-03-31", periods=cutoffs, freq="QE")
    return pd.DataFrame({"as_of": ends, "quarter_start": ends + pd.Timedelta(days=1), "horizon": 1})


@pytest.mark.parametrize(
    ("cutoffs", "wanted", "folds"),
    [(0, 4, 0), (1, 4, 0), (2, 4, 1), (3, 4, 1), (4, 4, 2), (5, 4, 3), (6, 4, 4), (9, 4, 4)],
)
def test_usable_folds_keep_two_training_cutoffs_when_they_can_and_one_at_the_least(
    cutoffs, wanted, folds
) -> None:
    assert usable_folds(_frame(cutoffs), wanted) == folds


def test_one_fold_learns_from_the_single_earlier_cutoff() -> None:
    frame = _frame(2)
    (fold,) = rolling_origin_folds(frame, folds=1)
    assert fold.cutoff == pd.Timestamp("2022-06-30")
    assert fold.train.tolist() == [0] and fold.test.tolist() == [1]


def test_too_many_folds_is_bad_input_that_says_how_many_the_data_allows() -> None:
    with pytest.raises(ShortHistory, match="use --folds 2 or fewer"):
        list(rolling_origin_folds(_frame(4), folds=4))
    with pytest.raises(ShortHistory, match="too short to backtest"):
        list(rolling_origin_folds(_frame(1), folds=1))


def test_the_coverage_gate_widens_only_for_backtests_too_small_to_measure_it() -> None:
    assert train_module.coverage_range(10_000) == (0.70, 0.90)
    assert train_module.coverage_range(144) == pytest.approx((0.70, 0.90))  # 3 x 0.0333
    lo, hi = train_module.coverage_range(40)  # 0.8 +- 3 x sqrt(0.16 / 40) = 0.19
    assert (lo, hi) == pytest.approx((0.6103, 0.9897), abs=1e-4)


# -- the sales-ops estimate's intervals ------------------------------------------------
def test_error_spreads_are_the_error_percentiles_and_borrowed_with_sqrt_widening() -> None:
    # horizon 1: 11 errors of 0.0, 0.1, ..., 1.0 in asinh units on a point of 0
    z = np.linspace(0.0, 1.0, 11)
    actual = np.sinh(z) * 1000.0
    spreads = error_spreads(actual, np.zeros(11), np.ones(11, dtype=int), max_horizon=4)
    assert spreads[1] == pytest.approx((0.1, 0.9))
    # horizons 2-4 have no closed quarter: horizon 1's spread times sqrt(h / 1)
    assert spreads[4] == pytest.approx((0.2, 1.8))
    assert spreads[2] == pytest.approx((0.1 * np.sqrt(2), 0.9 * np.sqrt(2)))


def test_error_spreads_pool_horizons_when_none_has_enough_errors() -> None:
    actual = np.sinh(np.array([-0.5, 0.5])) * 1000.0
    spreads = error_spreads(actual, np.zeros(2), np.array([1, 2]), max_horizon=2)
    assert MIN_ERRORS > 2
    assert spreads[1] == pytest.approx((-0.4, 0.4))
    assert spreads[2] == pytest.approx((-0.4 * np.sqrt(2), 0.4 * np.sqrt(2)))


# -- data conditions -------------------------------------------------------------------
@pytest.fixture(scope="module")
def worlds(tmp_path_factory) -> dict[str, Path]:
    """40-partner worlds with 2, 3 and 5 quarters of bookings, and derived exports."""
    root = tmp_path_factory.mktemp("young")
    out = {}
    for quarters in (2, 3, 5):
        out[f"q{quarters}"] = root / f"q{quarters}"
        write_world(simulate_world(partners=40, quarters=quarters, seed=11), out[f"q{quarters}"])
    out["q1"] = _derive(out["q2"], root / "q1", before="2021-04-01")
    ids = pd.read_csv(out["q5"] / "partners.csv", dtype=str)["partner_id"]
    out["single"] = _derive(out["q5"], root / "single", partners=ids[:1])
    out["few"] = _derive(out["q5"], root / "few", partners=ids[: MIN_PARTNERS - 1])
    out["gap"] = _derive(out["q5"], root / "gap", drop_bookings=("2021-04-01", "2021-07-01"))
    out["q3_bookings_only"] = _derive(
        out["q3"], root / "q3b", drop_tables=("opportunities", "activities", "incentives")
    )
    return out


def _derive(
    source: Path,
    to: Path,
    *,
    before: str | None = None,
    partners=None,
    drop_bookings: tuple[str, str] | None = None,
    drop_tables: tuple[str, ...] = (),
) -> Path:
    to.mkdir()
    dates = {
        "bookings": "booked_on",
        "opportunities": "created_on",
        "activities": "occurred_on",
        "incentives": "starts_on",
    }
    for table in TABLES:
        if table in drop_tables or not (source / f"{table}.csv").exists():
            continue
        frame = pd.read_csv(source / f"{table}.csv", dtype=str, keep_default_na=False)
        if partners is not None:
            frame = frame[frame["partner_id"].isin(set(partners))]
        if before is not None and table in dates:
            frame = frame[frame[dates[table]] < before]
            if table == "opportunities":  # nothing closes after the cut either
                late = frame["closed_on"] >= before
                frame.loc[late, ["closed_on", "status"]] = ["", "open"]
        if drop_bookings is not None and table == "bookings":
            lo, hi = drop_bookings
            frame = frame[(frame["booked_on"] < lo) | (frame["booked_on"] >= hi)]
        frame.to_csv(to / f"{table}.csv", index=False)
    return to


def test_check_history_names_table_column_and_what_is_missing(worlds) -> None:
    calendar = QuarterCalendar(1)
    cases = {
        "single": "bookings.partner_id: 1 partner with bookings",
        "few": f"bookings.partner_id: {MIN_PARTNERS - 1} partners with bookings",
        "gap": "bookings.booked_on: no booking at all in 1 quarter starting 2021-04-01",
    }
    for name, message in cases.items():
        ds = load_dataset(worlds[name])
        with pytest.raises(ShortHistory, match=message):
            check_history(ds, as_of=ds.as_of(), calendar=calendar)
    ds = load_dataset(worlds["q3"])
    check_history(ds, as_of=ds.as_of(), calendar=calendar)  # a young but whole history


@pytest.fixture
def store(tmp_path, monkeypatch, fast_config):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    monkeypatch.chdir(tmp_path)
    config = replace(fast_config, folds=4)  # what a user gets: four folds wanted
    monkeypatch.setattr(train_module, "tuned_config", lambda client, seed: config)
    yield tmp_path
    mlflow.set_tracking_uri(None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("q1", "needs at least two quarters of bookings"),
        ("single", "1 partner with bookings"),
        ("few", f"needs at least {MIN_PARTNERS}"),
        ("gap", "is the export missing a quarter"),
    ],
)
def test_train_on_data_that_cannot_train_exits_2_with_a_report(
    worlds, store, capsys, name, message
) -> None:
    assert main(["train", "--data", str(worlds[name])]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(store.glob("mlflow.db")) or _champion(store) is None


def test_no_bookings_at_all_or_none_by_the_as_of_date_exit_2(
    worlds, store, tmp_path, capsys
) -> None:
    first = pd.read_csv(worlds["q5"] / "bookings.csv")["booked_on"].min()
    before = str((pd.Timestamp(first) - pd.Timedelta(days=1)).date())
    assert main(["train", "--data", str(worlds["q5"]), "--as-of", before]) == 2
    err = capsys.readouterr().err
    assert f"bookings.booked_on: no booking on or before {before}" in err
    assert "Traceback" not in err
    empty = tmp_path / "empty"
    shutil.copytree(worlds["q5"], empty)
    bookings = pd.read_csv(empty / "bookings.csv", dtype=str)
    bookings.head(0).to_csv(empty / "bookings.csv", index=False)
    assert main(["train", "--data", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "bookings: required table has no rows" in err and "Traceback" not in err
    assert _champion(store) is None


def _champion(store: Path) -> str | None:
    client = mlflow.MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    try:
        return str(client.get_model_version_by_alias("partnercast-forecaster", "champion").version)
    except mlflow.exceptions.MlflowException:
        return None


def test_two_quarters_serve_the_sales_ops_estimate_and_say_so(
    worlds, store, capsys, tmp_path
) -> None:
    assert main(["train", "--data", str(worlds["q2"])]) == 0
    out = capsys.readouterr().out
    assert "promoted to champion" in out and "forecaster: sales_ops_estimate" in out
    assert "backtested: False" in out
    assert "recommender: not trained (" in out  # 40 partners, one quarter of incentives
    forecasts = tmp_path / "f.csv"
    assert main(["forecast", "--data", str(worlds["q2"]), "--out", str(forecasts)]) == 0
    out = capsys.readouterr().out
    assert "method: sales_ops_estimate" in out
    frame = pd.read_csv(forecasts)
    assert (frame["p10"] <= frame["p50"]).all() and (frame["p50"] <= frame["p90"]).all()
    # the P50 is the sales-ops estimate itself: the model's own starting point
    from features.scoring import load_champion

    forecaster = load_champion("partnercast-forecaster", f"sqlite:///{store / 'mlflow.db'}")
    forecaster = forecaster.model.forecaster
    rows = forecaster.scoring_rows(load_dataset(worlds["q2"]), as_of=forecaster.as_of, horizon=4)
    np.testing.assert_allclose(
        frame["p50"].to_numpy(), rows["sales_ops_estimate"].to_numpy(), rtol=1e-5, atol=0.01
    )
    # the ledger keeps them apart from a model's forecasts
    from features.reporting import ForecastLedger

    with ForecastLedger(f"sqlite:///{store / 'ledger.db'}") as ledger:
        versions = set(ledger.forecasts()["model_version"])
    assert versions == {"1 (sales_ops_estimate)"}
    # recommend explains why it cannot estimate uplifts
    assert main(["recommend", "--data", str(worlds["q2"]), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "could not fit it" in err and "too little history" in err
    assert not (tmp_path / "r.csv").exists()


def test_no_backtest_fits_the_model_and_never_replaces_a_backtested_champion(
    worlds, store, capsys
) -> None:
    assert main(["train", "--data", str(worlds["q5"])]) == 0
    assert "backtested on 2 fold(s) of the 4 wanted" in capsys.readouterr().out
    client = mlflow.MlflowClient(f"sqlite:///{store / 'mlflow.db'}")
    assert client.get_model_version("partnercast-forecaster", "1").tags["backtested"] == "true"
    # v1 is the backtested champion whatever its 90-row coverage did to the gate
    client.set_registered_model_alias("partnercast-forecaster", "champion", "1")
    assert main(["train", "--data", str(worlds["q2"]), "--no-backtest"]) == 0
    out = capsys.readouterr().out
    assert "forecaster: lightgbm" in out and "not promoted" in out
    assert "was backtested: a model without a backtest cannot show it is not worse" in out
    assert _champion(store) == "1"


def test_three_quarters_backtest_one_fold_with_and_without_pipeline(worlds, store, capsys) -> None:
    for name in ("q3", "q3_bookings_only"):
        assert main(["train", "--data", str(worlds[name])]) == 0
        out = capsys.readouterr().out
        assert "backtested on 1 fold(s) of the 4 wanted (short history)" in out
        assert "backtest_folds: 1" in out


def test_pipeline_only_partner_gets_a_forecast_from_its_pipeline(
    worlds, store, tmp_path, capsys
) -> None:
    data = tmp_path / "data"
    shutil.copytree(worlds["q3"], data)
    partners = pd.read_csv(data / "partners.csv", dtype=str, keep_default_na=False)
    new = partners.iloc[[0]].assign(partner_id="NEW01", joined_on="2021-06-01")
    pd.concat([partners, new]).to_csv(data / "partners.csv", index=False)
    opportunities = pd.read_csv(data / "opportunities.csv", dtype=str, keep_default_na=False)
    deal = opportunities.iloc[[0]].assign(
        opportunity_id="NEWOPP",
        partner_id="NEW01",
        created_on="2021-06-15",
        closed_on="",
        status="open",
        amount="200000",
        expected_close_on="2021-08-15",
    )
    pd.concat([opportunities, deal]).to_csv(data / "opportunities.csv", index=False)
    assert main(["train", "--data", str(data)]) == 0
    out = tmp_path / "f.csv"
    assert main(["forecast", "--data", str(data), "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    mine = frame[frame["partner_id"] == "NEW01"].sort_values("horizon")
    assert len(mine) == 4
    assert mine["p50"].iloc[0] > 0  # its due deal, at the segment's win rate


# -- 1, 2, 3 and 5 quarters of bookings, with and without pipeline and incentives -------
@pytest.fixture(scope="module")
def exports(worlds, tmp_path_factory) -> dict[tuple[int, bool], Path]:
    """Each history as a full export and as partners and bookings alone."""
    root = tmp_path_factory.mktemp("exports")
    out = {}
    for quarters in (1, 2, 3, 5):
        full = worlds[f"q{quarters}"]
        out[quarters, True] = full
        out[quarters, False] = _derive(
            full, root / f"q{quarters}", drop_tables=("opportunities", "activities", "incentives")
        )
    return out


FOLDS_BY_QUARTERS = {1: None, 2: 0, 3: 1, 5: 2}
"""Backtest folds ``train`` uses (of the 4 it wants); None: it cannot train."""


@pytest.mark.parametrize("pipeline", [True, False], ids=["full", "bookings-only"])
@pytest.mark.parametrize("quarters", [1, 2, 3, 5])
def test_train_forecast_recommend_serve_by_quarters_of_bookings(
    exports, store, tmp_path, capsys, quarters, pipeline
) -> None:
    from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
    from serving import answers
    from serving.champions import Champions, ModelUnavailable
    from serving.schemas import ForecastRequest
    from serving.settings import ServingSettings

    data, folds = exports[quarters, pipeline], FOLDS_BY_QUARTERS[quarters]
    trained = main(["train", "--data", str(data)])
    train_out, train_err = capsys.readouterr()
    forecasts = tmp_path / "f.csv"
    forecasted = main(["forecast", "--data", str(data), "--out", str(forecasts)])
    forecast_out, forecast_err = capsys.readouterr()
    recommended = main(["recommend", "--data", str(data), "--out", str(tmp_path / "r.csv")])
    recommend_err = capsys.readouterr().err
    for err in (train_err, forecast_err, recommend_err):
        assert "Traceback" not in err
    loaded = Champions(ServingSettings(model_source="mlflow", reload_seconds=0)).refresh()

    # recommend: exit 2 with the reason, never an empty answer (40 partners are too few
    # for any incentive's 20 partner-quarters, and the bookings-only export has none)
    assert recommended == 2 and not (tmp_path / "r.csv").exists()
    if not pipeline:
        assert "incentives table is missing" in recommend_err
    else:
        reason = "too little history" if folds is not None else "needs at least two quarters"
        assert "could not fit it" in recommend_err and reason in recommend_err
    with pytest.raises(ModelUnavailable):
        loaded.get(RECOMMENDER_MODEL)

    if folds is None:  # one quarter: nothing to train, and every step says why
        assert trained == 2 and "needs at least two quarters of bookings" in train_err
        assert forecasted == 2 and "could not fit it" in forecast_err
        assert "needs at least two quarters" in forecast_err and not forecasts.exists()
        assert not loaded.ready and "needs at least two quarters" in loaded.reason()
        return

    method = "sales_ops_estimate" if folds == 0 else "lightgbm"
    assert trained == 0 and "partnercast-forecaster v1 (promoted to champion)" in train_out
    if folds:
        assert f"backtested on {folds} fold(s) of the 4 wanted" in train_out
    else:
        assert "forecaster: sales_ops_estimate" in train_out and "backtested: False" in train_out
    assert forecasted == 0 and f"method: {method}" in forecast_out
    frame = pd.read_csv(forecasts, dtype={"partner_id": str})
    ds = load_dataset(data)
    active = set(ds.bookings["partner_id"].astype(str))
    if pipeline:
        opportunities = ds.opportunities
        active |= set(opportunities.loc[opportunities["status"] == "open", "partner_id"])
    assert active <= set(frame["partner_id"])  # every partner with bookings or pipeline
    assert (frame.groupby("partner_id").size() == 4).all()
    p10, p50, p90 = (frame[c].to_numpy() for c in ("p10", "p50", "p90"))
    assert np.isfinite(p50).all() and (p10 <= p50).all() and (p50 <= p90).all()
    assert (p90 > p10).mean() > 0.5  # intervals, not points

    # serve: ready on the champion, and every answer names how it was made
    assert loaded.ready
    partner = str(frame["partner_id"].iloc[0])
    answer = answers.forecast(loaded, ForecastRequest(partner_ids=[partner]), max_batch=10)
    assert answer.method == method and len(answer.forecasts) == 4
    (info,) = [m for m in answers.model_info(loaded).models if m.name == FORECASTER_MODEL]
    assert info.method == method and info.backtested is (folds > 0)
