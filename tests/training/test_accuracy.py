"""``partnercast accuracy``: hand-worked numbers, and a backtest replay scored back exactly."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import load_dataset
from features.families import build_revenue_panel
from features.names import FORECASTER_MODEL
from features.reporting import ForecastLedger, forecast_rows
from features.reporting.accuracy import accuracy_report, join_actuals, matured_forecasts
from tests.features.contract_data import valid_tables, write_tables
from training.cli import forecast_commands, main
from training.forecast import ALL_BASELINES, ForecastConfig

from .conftest import FAST


@pytest.fixture
def ledger_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'mlruns' / 'ledger.db'}"
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", url)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    yield url
    mlflow.set_tracking_uri(None)


# -- a hand-built ledger on the contract's three-partner dataset ---------------------
# actual revenue (calendar quarters; data ends 2024-06-30, so Q2 2024 has ended):
#   P1 (EMEA, gold):      2023-Q4 0,  2024-Q1 800 (1000 - 200),  2024-Q2 1200
#   P2 (NA, silver):                  2024-Q1 500.5,             2024-Q2 750
#   P3 (APAC, platinum, joined 2024-02-10): 2023-Q4 none (0),  2024-Q1 0,  2024-Q2 300
FORECASTS = [
    # as_of, partner, quarter, horizon, p10, p50, p90      actual  |error|  covered
    ("2023-12-31", "P1", "2024-01-01", 1, 600, 1000, 1400),  # 800     200     yes
    ("2023-12-31", "P2", "2024-01-01", 1, 300, 400, 450),  # 500.5   100.5   no
    ("2023-12-31", "P1", "2024-04-01", 2, 900, 1000, 1100),  # 1200    200     no
    ("2023-12-31", "P2", "2024-04-01", 2, 700, 750, 800),  # 750     0       yes
    ("2024-03-31", "P3", "2024-04-01", 1, 100, 500, 600),  # 300     200     yes
    ("2024-03-31", "P1", "2024-04-01", 1, 1000, 1200, 1300),  # 1200    0       yes
    ("2023-09-30", "P3", "2023-10-01", 1, 0, 50, 100),  # 0       50      yes (before joining)
    ("2024-03-31", "P1", "2024-07-01", 2, 1, 2, 3),  # not ended: left out
    ("2024-03-31", "PX", "2024-04-01", 1, 1, 2, 3),  # not in the data: left out, warned
]


def _hand_ledger(url: str, keep: list[int] | None = None) -> None:
    frame = pd.DataFrame(
        [FORECASTS[i] for i in keep] if keep else FORECASTS,
        columns=["as_of", "partner_id", "quarter_start", "horizon", "p10", "p50", "p90"],
    )
    frame[["as_of", "quarter_start"]] = frame[["as_of", "quarter_start"]].apply(pd.to_datetime)
    frame[["p10", "p50", "p90"]] = frame[["p10", "p50", "p90"]].astype(float)
    ledger = ForecastLedger(url)
    common = {"model_name": "m", "run_id": "r1"}
    ledger.record(forecast_rows(frame, source="cli", model_version="1", **common))
    other = frame.iloc[[0]].assign(p50=800.0)  # another version, perfect on one forecast
    ledger.record(forecast_rows(other, source="api", model_version="2", **common))
    groups = pd.DataFrame(  # group forecasts are not scored
        {"group": ["EMEA"], "quarter_start": [pd.Timestamp("2024-01-01")], "horizon": [1]}
    ).assign(p10=1.0, p50=2.0, p90=3.0, as_of=pd.Timestamp("2023-12-31"))
    ledger.record(forecast_rows(groups, source="cli", model_version="1", level="region", **common))


def _row(report: pd.DataFrame, version: str, horizon: str, segment: str, group: str) -> pd.Series:
    r = report[
        (report["model_version"] == version)
        & (report["horizon"] == horizon)
        & (report["segment"] == segment)
        & (report["group"] == group)
    ]
    assert len(r) == 1, (version, horizon, segment, group)
    return r.iloc[0]


HAND = {  # (horizon, segment, group): forecasts, actual, |error|, signed error, covered
    ("all", "all", "all"): (7, 4750.5, 750.5, 149.5, 5),
    ("1", "all", "all"): (5, 2800.5, 550.5, 349.5, 4),
    ("2", "all", "all"): (2, 1950.0, 200.0, -200.0, 1),
    ("all", "region", "EMEA"): (3, 3200.0, 400.0, 0.0, 2),
    ("all", "region", "NA"): (2, 1250.5, 100.5, -100.5, 1),
    ("all", "region", "APAC"): (2, 300.0, 250.0, 250.0, 2),
    ("1", "tier", "silver"): (1, 500.5, 100.5, -100.5, 0),
    ("all", "partner_type", "distributor"): (2, 300.0, 250.0, 250.0, 2),
}


def test_accuracy_of_a_hand_built_ledger(tmp_path: Path, ledger_url: str, capsys) -> None:
    data = write_tables(tmp_path / "data", valid_tables())
    _hand_ledger(ledger_url)
    out = tmp_path / "accuracy.csv"
    assert main(["accuracy", "--data", str(data), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "PX" in captured.err and "1 forecasts" in captured.err
    assert "forecasts scored: 8" in captured.out  # 7 of version 1, 1 of version 2
    report = pd.read_csv(out, dtype={"model_version": str, "horizon": str}, keep_default_na=False)
    for (horizon, segment, group), (n, actual, abs_err, err, covered) in HAND.items():
        row = _row(report, "1", horizon, segment, group)
        assert row["forecasts"] == n
        assert row["actual"] == pytest.approx(actual)
        assert row["wape"] == pytest.approx(abs_err / actual, rel=1e-12)
        assert row["bias"] == pytest.approx(err / actual, rel=1e-12)
        assert row["coverage_80"] == pytest.approx(covered / n, rel=1e-12)
        assert row["small"] and not row["low_coverage"]  # all below 30 forecasts
    assert _row(report, "1", "all", "all", "all")[["partners", "quarters"]].tolist() == [3, 3]
    v2 = _row(report, "2", "all", "all", "all")
    assert (v2["forecasts"], v2["wape"], v2["coverage_80"]) == (1, 0.0, 1.0)
    assert set(report["horizon"]) == {"1", "2", "all"}

    # --model-version keeps one version
    assert main(["accuracy", "--data", str(data), "--model-version", "2"]) == 0
    assert "forecasts scored: 1" in capsys.readouterr().out


def test_flags_need_enough_forecasts(tmp_path: Path, ledger_url: str) -> None:
    data = write_tables(tmp_path / "data", valid_tables())
    _hand_ledger(ledger_url)
    ds = load_dataset(data)
    calendar = QuarterCalendar(1)
    matured = matured_forecasts(ForecastLedger(ledger_url).forecasts(), last_date=ds.last_date)
    panel = build_revenue_panel(ds, as_of=ds.last_date, calendar=calendar)
    realised = join_actuals(matured, panel, ds.partners, calendar)
    assert realised.unknown_partners == ["PX"] and realised.dropped_forecasts == 1
    report = accuracy_report(realised.frame, coverage_floor=0.70, min_forecasts=2)
    flagged = report[report["low_coverage"] & (report["model_version"] == "1")]
    got = set(zip(flagged["horizon"], flagged["segment"], flagged["group"], strict=True))
    # coverage 1/2 at horizon 2; over all horizons 2/3 for P1 (EMEA, gold, reseller) and
    # 1/2 for P2 (NA, silver, msp); 5/7 = 0.714 passes; single forecasts are small
    assert got == {
        ("2", "all", "all"),
        ("all", "region", "EMEA"),
        ("all", "tier", "gold"),
        ("all", "partner_type", "reseller"),
        ("all", "region", "NA"),
        ("all", "tier", "silver"),
        ("all", "partner_type", "msp"),
    }
    silver = _row(report, "1", "1", "tier", "silver")
    assert silver["small"] and silver["coverage_80"] == 0.0 and not silver["low_coverage"]


def test_nothing_to_score_exits_0_with_a_reason(tmp_path: Path, ledger_url: str, capsys) -> None:
    data = write_tables(tmp_path / "data", valid_tables())
    out = tmp_path / "accuracy.csv"
    assert main(["accuracy", "--data", str(data), "--out", str(out)]) == 0
    assert "no partner forecasts" in capsys.readouterr().err
    assert not (tmp_path / "mlruns" / "ledger.db").exists()  # reading created nothing
    assert pd.read_csv(out).empty
    tables = valid_tables()  # without the booking of 2024-06-30 the data ends 2024-06-01
    tables["bookings"] = tables["bookings"][tables["bookings"]["booked_on"] != "2024-06-30"]
    data = write_tables(tmp_path / "early", tables)
    _hand_ledger(ledger_url, keep=[2, 3, 4, 5])  # only forecasts of 2024-Q2, not ended yet
    assert main(["accuracy", "--data", str(data)]) == 0
    assert "nothing to score yet" in capsys.readouterr().err


def test_a_fiscal_calendar_that_does_not_fit_the_ledger_is_bad_input(
    tmp_path: Path, ledger_url: str, capsys
) -> None:
    data = write_tables(tmp_path / "data", valid_tables())
    _hand_ledger(ledger_url)
    assert main(["accuracy", "--data", str(data), "--fy-start-month", "2"]) == 2
    assert "--fy-start-month" in capsys.readouterr().err


# -- a backtest replay recorded in the ledger gives back the backtest's numbers ---------
def test_backtest_replay_in_the_ledger_reproduces_the_backtest(
    tmp_path: Path, ledger_url: str, small_world_dir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(
        forecast_commands,
        "ForecastConfig",
        lambda horizon, folds, seed: ForecastConfig(horizon, folds, params=FAST, seed=seed),
    )
    bt_csv, acc_csv = tmp_path / "backtest.csv", tmp_path / "accuracy.csv"
    argv = ["backtest", "--data", str(small_world_dir), "--folds", "2", "--out", str(bt_csv)]
    assert main([*argv, "--ledger"]) == 0
    out = capsys.readouterr().out
    assert "backtest run: backtest-" in out and "ledger:" in out
    assert main(["accuracy", "--data", str(small_world_dir), "--out", str(acc_csv)]) == 0
    backtest = pd.read_csv(bt_csv, dtype={"horizon": str})
    accuracy = pd.read_csv(acc_csv, dtype={"horizon": str, "model_version": str})
    assert accuracy["model_version"].nunique() == 1  # one replay, one version
    ours = accuracy[accuracy["segment"] == "all"]
    names = {"lightgbm": FORECASTER_MODEL, **{b: f"baseline:{b}" for b in ALL_BASELINES}}
    for model, name in names.items():
        for metric in ("wape", "bias", "coverage_80"):
            want = backtest[(backtest["model"] == model) & (backtest["metric"] == metric)]
            got = ours[ours["model_name"] == name].set_index("horizon")[metric]
            # two folds of the small world: the last cutoffs have targets 1-2 quarters ahead
            assert sorted(want["horizon"]) == sorted(got.index) == ["1", "2", "all"]
            np.testing.assert_allclose(
                got.loc[want["horizon"]].to_numpy(), want["value"].to_numpy(), rtol=1e-12
            )
    # a second replay is a new version, kept apart from the first
    assert main([*argv, "--ledger"]) == 0
    assert main(["accuracy", "--data", str(small_world_dir), "--out", str(acc_csv)]) == 0
    assert pd.read_csv(acc_csv, dtype={"model_version": str})["model_version"].nunique() == 2


def test_an_unreadable_ledger_exits_1_naming_it(tmp_path: Path, monkeypatch, capsys) -> None:
    data = write_tables(tmp_path / "data", valid_tables())
    broken = tmp_path / "not-a-database.db"
    broken.write_text("this is not SQLite\n" * 100)
    monkeypatch.setenv("PARTNERCAST_LEDGER_URL", f"sqlite:///{broken}")
    assert main(["accuracy", "--data", str(data)]) == 1
    assert "not-a-database.db" in capsys.readouterr().err


def test_accuracy_adds_forecast_value_added(tmp_path: Path, ledger_url: str) -> None:
    from features.reporting.overrides import OverrideBook

    data = write_tables(tmp_path / "data", valid_tables())
    _hand_ledger(ledger_url)
    book = OverrideBook(ledger_url)
    book.add(
        level="partner", key="P1", quarter_start="2024-04-01", p50=1100.0, p50_model=1000.0,
        reason="deal", author="ana", role="planner", model_name="m", model_version="1",
    )  # fmt: skip
    book.close()
    fva = tmp_path / "fva.csv"
    assert main(["accuracy", "--data", str(data), "--fva", str(fva)]) == 0
    report = pd.read_csv(fva, dtype={"horizon": str}, keep_default_na=False)
    row = report[(report["horizon"] == "all") & (report["segment"] == "all")].iloc[0]
    # P1's Q2 forecasts (actual 1200): 1000 at horizon 2 and 1200 at horizon 1 both become
    # 1100: the first gets better (100 < 200), the second worse (100 > 0)
    shown = (row["forecasts"], row["overridden"], float(row["improved_share"]))
    assert shown == (8, 2, 0.5)
    # +100 and -100 in error: the same WAPE
    assert float(row["wape_final"]) == pytest.approx(float(row["wape_model"]))
    ana = report[(report["horizon"] == "all") & (report["group"] == "ana")].iloc[0]
    assert (ana["segment"], ana["overridden"]) == ("author", 2)
    assert set(report["segment"]) == {"all", "region", "tier", "partner_type", "author"}
