"""The partner scorecard: numbers worked out by hand, point in time, the PNG, the command."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset
from features.families import build_revenue_panel
from tests.features.builders import dataset
from tests.features.test_leakage import mutate_after
from tests.serving.conftest import Store, champion_forecaster, trained_store  # noqa: F401
from training.cli import main
from training.reports import render_scorecard, scorecard_data

CAL = QuarterCalendar()
FEB = QuarterCalendar(2)
AS_OF = pd.Timestamp("2024-06-30")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _opp(oid, created, closed, status, amount, partner="A"):
    return dict(
        opportunity_id=oid,
        partner_id=partner,
        created_on=created,
        closed_on=closed,
        status=status,
        amount=amount,
    )


def scorecard_world() -> Dataset:
    """A joined 2023-03-10; B joined 2024-05-20 (young); C joins after 2024-06-30.

    Every row dated after 2024-06-30 carries a number that would stand out if it leaked.
    """
    A, B = "A", "B"
    return dataset(
        partners=[
            dict(
                partner_id=A,
                name="Alpha Systems",
                joined_on="2023-03-10",
                tier="gold",
                partner_type="reseller",
                region="EMEA",
            ),
            dict(partner_id=B, joined_on="2024-05-20", tier="silver", partner_type="msp"),
            dict(partner_id="C", joined_on="2024-09-01", tier="gold", partner_type="si"),
        ],
        bookings=[
            dict(partner_id=A, booked_on="2023-03-15", amount=100.0),
            dict(partner_id=A, booked_on="2023-05-20", amount=200.0),
            dict(partner_id=A, booked_on="2023-07-15", amount=40.0),
            dict(partner_id=A, booked_on="2023-08-01", amount=300.0),
            dict(partner_id=A, booked_on="2023-11-10", amount=400.0),
            dict(partner_id=A, booked_on="2023-12-05", amount=-50.0),  # a credit note
            dict(partner_id=A, booked_on="2024-02-10", amount=500.0),
            dict(partner_id=A, booked_on="2024-04-20", amount=70.0),
            dict(partner_id=A, booked_on="2024-06-30", amount=600.0),
            dict(partner_id=A, booked_on="2024-07-01", amount=9999.0),
            dict(partner_id=B, booked_on="2024-06-01", amount=250.0),
            dict(partner_id="C", booked_on="2024-09-05", amount=77.0),
        ],
        opportunities=[
            _opp("o1", "2023-04-10", "2023-08-20", "won", 1000.0),
            _opp("o6", "2023-07-01", "2023-12-31", "lost", 50.0),  # closed on a quarter end
            _opp("o3", "2023-11-01", "2024-02-01", "lost", 400.0),
            _opp("o2", "2024-01-15", "2024-08-10", "won", 2000.0),  # closes after as-of
            _opp("o4", "2024-05-01", None, "open", 700.0),
            _opp("o5", "2024-07-05", None, "open", 5000.0),  # created after as-of
            _opp("b1", "2024-06-10", None, "open", 300.0, partner=B),
        ],
        activities=[
            dict(partner_id=A, occurred_on="2023-05-01", activity="training_completed"),
            dict(partner_id=A, occurred_on="2024-02-01", activity="portal_login", quantity=2.0),
            dict(partner_id=A, occurred_on="2024-03-01", activity="portal_login", quantity=3.0),
            dict(partner_id=A, occurred_on="2024-06-15", activity="training_completed"),
            dict(partner_id=A, occurred_on="2024-07-02", activity="certification_earned"),
        ],
        incentives=[
            dict(
                partner_id=A,
                incentive="rebate",
                starts_on="2023-10-05",
                ends_on="2023-12-31",
                cost=120.0,
            ),
            dict(
                partner_id=A,
                incentive="spiff",
                starts_on="2024-04-10",
                ends_on="2024-09-30",
                cost=80.0,
            ),
            dict(
                partner_id=A,
                incentive="mdf",
                starts_on="2024-07-05",
                ends_on="2024-09-30",
                cost=999.0,
            ),
        ],
    )


@pytest.fixture(scope="module")
def world() -> Dataset:
    return scorecard_world()


def write_world(ds: Dataset, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for table in ("partners", "bookings", "opportunities", "activities", "incentives"):
        ds.table(table).to_csv(folder / f"{table}.csv", index=False, date_format="%Y-%m-%d")
    return folder


@pytest.fixture
def no_champion(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}")
    (tmp_path / "empty").mkdir()


# -- numbers by hand: calendar quarters -----------------------------------------------------
def test_quarters_by_hand(world) -> None:
    data = scorecard_data(world, "A", as_of=AS_OF, calendar=CAL, quarters=8)
    q = data.quarters
    # A joined in 2023-Q1, so 6 of the 8 quarters asked for exist
    assert q["label"].tolist() == ["2023-Q1", "2023-Q2", "2023-Q3", "2023-Q4", "2024-Q1", "2024-Q2"]
    assert q["complete"].all()  # 2024-06-30 ends 2024-Q2
    assert q["revenue"].tolist() == [100, 200, 340, 350, 500, 670]  # 9999 on 07-01 is later
    assert q["positive"].tolist() == [100, 200, 340, 400, 500, 670]
    assert q["credit"].tolist() == [0, 0, 0, -50, 0, 0]
    # open at each quarter end: o1 at 06-30; o6 at 09-30 but not at 12-31 (it closed that
    # day); o3 at 12-31; o2 from 2024-Q1 on, still open at as-of as it closes 08-10; o4
    assert q["open_amount"].tolist() == [0, 1000, 50, 400, 2000, 2700]
    assert q["created_amount"].tolist() == [0, 1000, 50, 400, 2000, 700]
    assert q["won_amount"].tolist() == [0, 0, 1000, 0, 0, 0]  # o2's win is after as-of
    assert q["opps_won"].tolist() == [0, 0, 1, 0, 0, 0]
    assert data.history_slots == 8 and data.as_of == AS_OF
    assert data.partner["name"] == "Alpha Systems" and data.partner["tier"] == "gold"


def test_headline_by_hand(world) -> None:
    h = scorecard_data(world, "A", as_of=AS_OF, calendar=CAL).headline
    assert h.last_complete_label == "2024-Q2"
    assert h.revenue_last_complete == 670
    assert h.trailing_4q == 340 + 350 + 500 + 670
    assert h.prior_4q == 100 + 200  # 2022-Q3 .. 2023-Q2; A joined in 2023-Q1
    assert h.change_4q == pytest.approx((1860 - 300) / 300)
    assert h.open_pipeline == 2700
    assert h.trailing_quarters_joined == 4


def test_headline_uses_complete_quarters_only(world) -> None:
    data = scorecard_data(world, "A", as_of="2024-05-15", calendar=CAL, quarters=3)
    q = data.quarters
    assert q["label"].tolist() == ["2023-Q4", "2024-Q1", "2024-Q2"]
    assert q["complete"].tolist() == [True, True, False]
    assert q["revenue"].tolist() == [350, 500, 70]  # 2024-Q2 up to 05-15
    assert q["open_amount"].tolist() == [400, 2000, 2700]  # o4 was created on 05-01
    h = data.headline
    assert h.last_complete_label == "2024-Q1" and h.revenue_last_complete == 500
    assert h.trailing_4q == 200 + 340 + 350 + 500  # the headline looks back past 3 quarters
    assert h.prior_4q == 100


def test_activities_and_incentives_by_hand(world) -> None:
    data = scorecard_data(world, "A", as_of=AS_OF, calendar=CAL)
    acts = data.activities
    starts = acts["quarter_start"].dt.date.astype(str)
    assert list(zip(starts, acts["activity"], acts["quantity"], strict=True)) == [
        ("2023-04-01", "training_completed", 1.0),
        ("2024-01-01", "portal_login", 5.0),
        ("2024-04-01", "training_completed", 1.0),
    ]  # certification_earned is first seen after as-of: not even in the legend
    inc = data.incentives
    assert inc["incentive"].tolist() == ["rebate", "spiff"]  # the mdf grant starts later
    assert inc["cost"].tolist() == [120.0, 80.0]
    assert inc["quarter_start"].dt.date.astype(str).tolist() == ["2023-10-01", "2024-04-01"]


# -- fiscal year starting in February ---------------------------------------------------------
def test_fiscal_year_starting_in_february(world) -> None:
    data = scorecard_data(world, "A", as_of=AS_OF, calendar=FEB, quarters=8)
    q = data.quarters
    assert q["label"].tolist() == [
        "FY2024-Q1",  # Feb-Apr 2023
        "FY2024-Q2",  # May-Jul 2023
        "FY2024-Q3",
        "FY2024-Q4",  # Nov 2023 - Jan 2024
        "FY2025-Q1",  # Feb-Apr 2024
        "FY2025-Q2",  # May-Jul 2024, to date
    ]
    assert q["quarter_start"].iloc[0] == pd.Timestamp("2023-02-01")
    assert q["complete"].tolist() == [True] * 5 + [False]
    assert q["revenue"].tolist() == [100, 240, 300, 350, 570, 600]
    # cutoffs 04-30, 07-31, 10-31, 01-31, 04-30 and the as-of date 06-30
    assert q["open_amount"].tolist() == [1000, 1050, 50, 2400, 2000, 2700]
    assert q["created_amount"].tolist() == [1000, 50, 0, 2400, 0, 700]
    assert q["won_amount"].tolist() == [0, 0, 1000, 0, 0, 0]
    h = data.headline
    assert h.last_complete_label == "FY2025-Q1" and h.revenue_last_complete == 570
    assert h.trailing_4q == 240 + 300 + 350 + 570
    assert h.prior_4q == 100


# -- young partners, oracles, point in time -----------------------------------------------------
def test_young_partner(world) -> None:
    data = scorecard_data(world, "B", as_of=AS_OF, calendar=CAL)
    assert data.quarters["label"].tolist() == ["2024-Q2"]
    assert data.quarters["revenue"].tolist() == [250]
    assert data.headline.trailing_4q == 250 and data.headline.prior_4q == 0
    assert data.headline.change_4q is None
    assert data.headline.trailing_quarters_joined == 1
    assert data.headline.open_pipeline == 300
    assert data.activities.empty and data.incentives.empty


@pytest.mark.parametrize("calendar", [CAL, FEB])
def test_revenue_agrees_with_the_feature_panel(world, calendar) -> None:
    data = scorecard_data(world, "A", as_of=AS_OF, calendar=calendar, quarters=20)
    panel = build_revenue_panel(world, as_of=AS_OF, calendar=calendar)
    panel = panel[panel["partner_id"] == "A"].reset_index(drop=True)
    pd.testing.assert_series_equal(
        data.quarters["quarter_start"], panel["quarter_start"], check_names=False
    )
    np.testing.assert_allclose(data.quarters["revenue"], panel["revenue"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nothing_dated_after_as_of_moves_the_scorecard(world, seed) -> None:
    before = scorecard_data(world, "A", as_of=AS_OF, calendar=FEB)
    after = scorecard_data(mutate_after(world, AS_OF, seed), "A", as_of=AS_OF, calendar=FEB)
    pd.testing.assert_frame_equal(before.quarters, after.quarters)
    pd.testing.assert_frame_equal(before.activities, after.activities)
    pd.testing.assert_frame_equal(before.incentives, after.incentives)
    assert before.headline == after.headline


def test_as_of_defaults_to_the_last_date(world) -> None:
    data = scorecard_data(world, "A", calendar=CAL)
    assert data.as_of == pd.Timestamp("2024-09-05")
    assert data.quarters["revenue"].iloc[-1] == 9999


# -- bad input ----------------------------------------------------------------------------------
def test_unknown_partner_names_close_matches(world) -> None:
    with pytest.raises(BadInput, match=r"unknown partner 'a'.*A"):
        scorecard_data(world, "a", as_of=AS_OF, calendar=CAL)


def test_partner_that_joined_after_as_of(world) -> None:
    with pytest.raises(BadInput, match="joined on 2024-09-01"):
        scorecard_data(world, "C", as_of=AS_OF, calendar=CAL)


# -- the picture --------------------------------------------------------------------------------
def test_png_is_1600_by_1200_and_deterministic(world) -> None:
    data = scorecard_data(world, "A", as_of="2024-05-15", calendar=FEB)
    png = render_scorecard(data)
    assert png.startswith(PNG_MAGIC)
    assert matplotlib.image.imread(io.BytesIO(png)).shape[:2] == (1200, 1600)
    assert render_scorecard(data) == png
    young = render_scorecard(scorecard_data(world, "B", as_of=AS_OF, calendar=CAL))
    assert matplotlib.image.imread(io.BytesIO(young)).shape[:2] == (1200, 1600)


def test_png_with_bookings_only_and_many_quarters() -> None:
    ds = dataset(
        partners=[dict(partner_id="Z", joined_on="2020-01-01")],
        bookings=[dict(partner_id="Z", booked_on="2024-03-01", amount=-10.0)],
    )
    data = scorecard_data(ds, "Z", calendar=CAL, quarters=30)
    assert len(data.quarters) == 17 and data.quarters["revenue"].sum() == -10
    assert data.quarters["open_amount"].eq(0).all() and data.activities.empty
    png = render_scorecard(data)
    assert matplotlib.image.imread(io.BytesIO(png)).shape[:2] == (1200, 1600)


# -- the command --------------------------------------------------------------------------------
def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_command_without_a_champion_draws_the_history(
    world, tmp_path, no_champion, capsys, caplog
) -> None:
    data_dir = write_world(world, tmp_path / "data")
    out = tmp_path / "cards" / "a.png"
    argv = ["scorecard", "--data", str(data_dir), "--partner", "A", "--out", str(out)]
    assert main([*argv, "--as-of", "2024-06-30", "--fy-start-month", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"wrote {out}: partner A, as of 2024-06-30, no forecast"
    assert "no forecast on the scorecard" in caplog.text  # a warning on stderr
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert matplotlib.image.imread(out).shape[:2] == (1200, 1600)
    assert _files(out.parent) == ["a.png"]


def test_unknown_partner_exits_2_and_writes_nothing(world, tmp_path, no_champion, capsys) -> None:
    data_dir = write_world(world, tmp_path / "data")
    out = tmp_path / "cards" / "x.png"
    argv = ["scorecard", "--data", str(data_dir), "--partner", "AA", "--out", str(out)]
    assert main(argv) == 2
    assert "unknown partner 'AA'" in capsys.readouterr().err
    assert not out.exists()
    assert main([*argv[:-3], "C", "--out", str(out), "--as-of", "2024-06-30"]) == 2
    assert "joined on 2024-09-01" in capsys.readouterr().err
    assert not out.parent.exists()


def test_a_failed_drawing_leaves_no_file(world, tmp_path, no_champion, monkeypatch) -> None:
    import training.reports.scorecard_figure as figure

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(figure, "render_scorecard", broken)
    data_dir = write_world(world, tmp_path / "data")
    out = tmp_path / "cards" / "a.png"
    out.parent.mkdir()
    assert main(["scorecard", "--data", str(data_dir), "--partner", "A", "--out", str(out)]) == 1
    assert not out.exists() and _files(out.parent) == []


def test_an_interrupted_write_leaves_no_temp_file(tmp_path, monkeypatch) -> None:
    import os

    from features.data import write_bytes_atomically

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomically(PNG_MAGIC, tmp_path / "a.png")
    assert _files(tmp_path) == []


# -- with a trained champion --------------------------------------------------------------------
def test_champion_forecast_on_the_scorecard(trained_store, tmp_path, monkeypatch, capsys) -> None:  # noqa: F811
    from features.data import load_dataset

    ds = load_dataset(trained_store.root / "demo")
    forecaster = champion_forecaster(trained_store)
    as_of = ds.last_date
    data = scorecard_data(ds, "P00007", as_of=as_of, calendar=CAL, forecaster=forecaster)
    f = data.forecast
    assert f["horizon"].tolist() == [1, 2, 3, 4]
    assert list(f["quarter_start"]) == list(CAL.horizon_starts(as_of, 4))
    assert (f["p10"] <= f["p50"]).all() and (f["p50"] <= f["p90"]).all()
    assert f["label"].tolist() == list(CAL.label(f["quarter_start"]))

    with pytest.raises(ValueError, match="fiscal month 1"):
        scorecard_data(ds, "P00007", calendar=FEB, forecaster=forecaster)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.uri)
    out = tmp_path / "p7.png"
    argv = ["scorecard", "--data", str(trained_store.root / "demo"), "--partner", "P00007"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "forecast by partnercast-forecaster v1" in capsys.readouterr().out
    assert matplotlib.image.imread(out).shape[:2] == (1200, 1600)
    # another fiscal calendar than the model's: the history still, no fan, a warning
    assert main([*argv, "--out", str(out), "--fy-start-month", "2"]) == 0
    assert capsys.readouterr().out.strip().endswith("no forecast")
