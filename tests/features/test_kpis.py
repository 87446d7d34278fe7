"""Channel KPIs against numbers worked out by hand, calendar and February fiscal years.

The dataset (``kpi_dataset``) is as of 2024-09-15. Rows dated after it (a booking of 999,
an opportunity of 9,999, an MDF grant starting 2024-09-20) must never count. Worked out
on paper, per calendar (Feb: fiscal year starting in February, quarters Feb-Apr, May-Jul,
Aug-Oct, Nov-Jan; q0 = 2024-08-01..2024-10-31, the fiscal year started 2024-02-01):

P1 bookings: 2023-03-10 100, 2023-09-20 50, 2024-01-15 70, 2024-02-05 200, 2024-07-15 60,
2024-08-10 300, 2024-08-20 -40 (credit note), 2024-09-16 999 (after as-of).
- Feb: QTD 300-40 = 260; YTD 200+60+260 = 520; prior YTD (2023-02-01..2023-09-15) 100;
  trailing 4 quarters 260+60+200+70 = 590.
- calendar: QTD (Jul 1..) 60+260 = 320; YTD 70+200+60+260 = 590; prior YTD 100; 4q 590.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.reporting.kpis import KPI_COLUMNS, build_partner_kpis, group_kpis, leaderboard
from tests.features.builders import dataset, random_dataset
from tests.features.test_leakage import cutoffs, mutate_after

AS_OF = "2024-09-15"
FEB, CAL = QuarterCalendar(2), QuarterCalendar(1)


def kpi_dataset() -> Dataset:
    partner = dict(tier="gold", partner_type="reseller", region="emea")
    return dataset(
        partners=[
            dict(partner_id="P1", joined_on="2022-05-01", **partner),
            dict(
                partner_id="P2",
                joined_on="2024-06-10",  # joined mid-year
                tier="silver",
                partner_type="msp",
                region="emea",
            ),
            dict(partner_id="P3", joined_on="2024-10-01", **partner),  # after as-of
            dict(partner_id="P4", joined_on="2023-01-01", **{**partner, "region": "amer"}),
            dict(partner_id="P5", joined_on="2023-01-01", partner_type="reseller", region="amer"),
        ],
        bookings=[
            dict(partner_id="P1", booked_on=day, amount=amount)
            for day, amount in [
                ("2023-03-10", 100),
                ("2023-09-20", 50),
                ("2024-01-15", 70),
                ("2024-02-05", 200),
                ("2024-07-15", 60),
                ("2024-08-10", 300),
                ("2024-08-20", -40),
                ("2024-09-16", 999),
            ]
        ]
        + [
            dict(partner_id="P2", booked_on="2024-06-15", amount=80),
            dict(partner_id="P2", booked_on="2024-09-01", amount=20),
            dict(partner_id="P2", booked_on="2024-09-20", amount=500),
            dict(partner_id="P3", booked_on="2024-10-05", amount=10),
            dict(partner_id="P4", booked_on="2023-05-05", amount=30),
            dict(partner_id="P4", booked_on="2024-03-03", amount=150),
            dict(partner_id="P5", booked_on="2024-03-04", amount=150),
        ],
        opportunities=[
            dict(
                opportunity_id="O1",
                partner_id="P1",
                created_on="2024-08-05",
                status="open",
                amount=1000,
            ),
            # closed after as-of: still open at as-of
            dict(
                opportunity_id="O2",
                partner_id="P1",
                created_on="2024-03-01",
                closed_on="2024-09-20",
                status="won",
                amount=500,
            ),
            dict(
                opportunity_id="O3",
                partner_id="P1",
                created_on="2024-01-20",
                closed_on="2024-05-01",
                status="lost",
                amount=700,
            ),
            dict(
                opportunity_id="O4",
                partner_id="P2",
                created_on="2024-09-10",
                status="open",
                amount=250,
            ),
            dict(
                opportunity_id="O5",
                partner_id="P2",
                created_on="2024-09-16",
                status="open",
                amount=9999,
            ),
            dict(
                opportunity_id="O6",
                partner_id="P4",
                created_on="2023-06-01",
                closed_on="2023-08-01",
                status="won",
                amount=30,
            ),
        ],
        incentives=[
            dict(
                partner_id="P1",
                incentive="mdf",
                starts_on="2024-08-01",
                ends_on="2024-09-30",
                cost=100,
            ),
            dict(
                partner_id="P1",
                incentive="MDF",
                starts_on="2023-12-01",
                ends_on="2023-12-31",
                cost=50,
            ),
            dict(
                partner_id="P1",
                incentive="mdf",
                starts_on="2023-10-15",
                ends_on="2023-11-30",
                cost=70,
            ),
            dict(
                partner_id="P1",
                incentive="rebate",
                starts_on="2024-08-01",
                ends_on="2024-09-30",
                cost=999,
            ),
            dict(
                partner_id="P2",
                incentive="mdf",
                starts_on="2024-09-20",
                ends_on="2024-10-30",
                cost=40,
            ),
        ],
    )


FORECAST = pd.Series({"P1": 400.0, "P2": 0.0, "P4": 100.0})  # P5 has none
ROI = pd.Series({"P1": 2.0, "P2": 0.5, "P4": 1.0, "P5": 3.0})


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return kpi_dataset()


def kpis(ds: Dataset, calendar: QuarterCalendar, **kw) -> pd.DataFrame:
    frame = build_partner_kpis(
        ds, as_of=AS_OF, calendar=calendar, forecast_p50=FORECAST, mdf_roi=ROI, **kw
    )
    return frame.set_index("partner_id")


def test_february_fiscal_year_by_hand(ds: Dataset) -> None:
    k = kpis(ds, FEB)
    assert list(k.index) == ["P1", "P2", "P4", "P5"]  # P3 joined after as-of
    expected = {
        # open, created QTD, created YTD, revenue QTD, YTD, prior YTD, 4q, MDF 4q
        "P1": (1500, 1000, 1500, 260, 520, 100, 590, 150),
        "P2": (250, 250, 250, 20, 100, 0, 100, 0),
        "P4": (0, 0, 0, 0, 150, 30, 150, 0),
        "P5": (0, 0, 0, 0, 150, 0, 150, 0),
    }
    columns = [
        "open_pipeline",
        "pipeline_created_qtd",
        "pipeline_created_ytd",
        "revenue_qtd",
        "revenue_ytd",
        "revenue_ytd_prior",
        "revenue_4q",
        "mdf_spend_4q",
    ]
    got = k[columns].astype(float)
    assert got.to_dict("index") == {
        p: dict(zip(columns, map(float, v), strict=True)) for p, v in expected.items()
    }
    assert k.loc["P1", "open_opportunities"] == 2
    assert k["quarter_start"].iloc[0] == pd.Timestamp("2024-08-01")
    assert k["fiscal_year_start"].iloc[0] == pd.Timestamp("2024-02-01")
    assert k["quarter_elapsed"].iloc[0] == pytest.approx(46 / 92)
    # ties on revenue YTD (P4, P5: 150) broken by growth (P5 +150 beats P4 +120)
    assert k["leaderboard_rank"].to_dict() == {"P1": 1, "P5": 2, "P4": 3, "P2": 4}
    assert k.loc["P1", "attainment_vs_forecast"] == pytest.approx(260 / 400)
    assert np.isnan(k.loc["P2", "attainment_vs_forecast"])  # a zero forecast has no ratio
    assert k.loc["P4", "attainment_vs_forecast"] == 0.0
    assert np.isnan(k.loc["P5", "forecast_p50_quarter"])
    assert k.loc["P1", "mdf_roi"] == 2.0
    assert k.loc["P1", "mdf_revenue_per_dollar_naive"] == pytest.approx(590 / 150)
    assert np.isnan(k.loc["P2", "mdf_revenue_per_dollar_naive"])  # no spend, no ratio


def test_calendar_year_by_hand(ds: Dataset) -> None:
    k = kpis(ds, CAL)
    assert k.loc[
        "P1", ["revenue_qtd", "revenue_ytd", "revenue_ytd_prior", "revenue_4q"]
    ].tolist() == [
        320,
        590,
        100,
        590,
    ]
    # O3 (created 2024-01-20) is in this fiscal year under calendar years only
    assert k.loc["P1", ["pipeline_created_qtd", "pipeline_created_ytd"]].tolist() == [1000, 2200]
    # the 2023-10-15 grant is three quarters back with calendar quarters, four with Feb's
    assert k.loc["P1", "mdf_spend_4q"] == 220
    assert k["quarter_start"].iloc[0] == pd.Timestamp("2024-07-01")
    assert k["quarter_elapsed"].iloc[0] == pytest.approx(77 / 92)


def test_every_contract_column_is_there(ds: Dataset) -> None:
    assert set(KPI_COLUMNS) <= set(build_partner_kpis(ds, as_of=AS_OF, calendar=FEB).columns)


def test_without_model_inputs_forecast_and_roi_are_missing(ds: Dataset) -> None:
    k = build_partner_kpis(ds, as_of=AS_OF, calendar=FEB)
    assert k[["forecast_p50_quarter", "attainment_vs_forecast", "mdf_roi"]].isna().all().all()


def test_mdf_name_is_configurable(ds: Dataset) -> None:
    k = kpis(ds, FEB, mdf_incentive="Rebate")
    assert k.loc["P1", "mdf_spend_4q"] == 999


def test_region_groups_by_hand(ds: Dataset) -> None:
    g = group_kpis(kpis(ds, FEB).reset_index(), "region").set_index("group")
    assert list(g.index) == ["amer", "emea"]
    assert g.loc["emea", ["partners", "revenue_qtd", "revenue_ytd", "open_pipeline"]].tolist() == [
        2,
        280,
        620,
        1750,
    ]
    assert g.loc["emea", "forecast_p50_quarter"] == 400  # P1 400 + P2 0
    assert g.loc["emea", "attainment_vs_forecast"] == pytest.approx(280 / 400)
    assert g.loc["amer", "forecast_p50_quarter"] == 100  # P5 has no forecast
    assert g.loc["amer", "growth_ytd"] == 270
    assert g["leaderboard_rank"].to_dict() == {"emea": 1, "amer": 2}
    # MDF ROI: spend-weighted (only P1 spent) in emea; no spend in amer: plain mean
    assert g.loc["emea", "mdf_roi"] == 2.0
    assert g.loc["amer", "mdf_roi"] == pytest.approx(2.0)
    assert g.loc["emea", "mdf_revenue_per_dollar_naive"] == pytest.approx(690 / 150)


def test_group_forecast_from_the_forecaster_replaces_the_sum(ds: Dataset) -> None:
    g = group_kpis(
        kpis(ds, FEB).reset_index(), "region", group_forecast_p50=pd.Series({"emea": 560.0})
    ).set_index("group")
    assert g.loc["emea", "attainment_vs_forecast"] == pytest.approx(280 / 560)
    assert np.isnan(g.loc["amer", "forecast_p50_quarter"])


def test_missing_tier_is_its_own_group(ds: Dataset) -> None:
    g = group_kpis(kpis(ds, FEB).reset_index(), "tier").set_index("group")
    assert g["partners"].to_dict() == {"gold": 2, "silver": 1, "unknown": 1}


def test_leaderboard_ties_fall_back_to_names() -> None:
    ranks = leaderboard(np.array([5.0, 5.0, 9.0]), np.array([1.0, 1.0, 0.0]), ["b", "a", "c"])
    assert ranks.tolist() == [3, 2, 1]


def test_as_of_before_anyone_joined_gives_no_rows(ds: Dataset) -> None:
    assert build_partner_kpis(ds, as_of="2020-01-01", calendar=FEB).empty


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), t=cutoffs, fy=st.sampled_from([1, 2, 11]))
def test_kpis_ignore_everything_after_the_as_of_date(seed, t, fy):
    ds = random_dataset(seed)
    calendar = QuarterCalendar(fy)
    before = build_partner_kpis(ds, as_of=t, calendar=calendar)
    after = build_partner_kpis(mutate_after(ds, t, seed), as_of=t, calendar=calendar)
    pd.testing.assert_frame_equal(before, after)
