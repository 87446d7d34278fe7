"""Quota odds worked on paper: the interpolated distribution, booked-to-date, coverage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import BadInput
from features.reporting.attainment import (
    build_attainment,
    check_quarter,
    prob_at_least,
    quantile_knots,
)
from tests.features.builders import dataset, frame

CAL = QuarterCalendar()
AS_OF = pd.Timestamp("2025-02-14")  # day 45 of 90 in Q1 2025: half the quarter gone
Q1, Q2 = pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-01")


def test_knots_extend_the_outer_segments_by_a_quarter():
    assert quantile_knots(80, 100, 140).tolist() == [[75, 80, 100, 140, 150]]


@pytest.mark.parametrize(
    "target, expected",
    [
        (70, 1.0),  # below lo
        (77.5, 0.95),  # half of the lowest 10 % segment [75, 80]
        (90, 0.7),  # half of [80, 100] (0.2) + 0.4 + 0.1
        (100, 0.5),
        (120, 0.3),  # half of [100, 140] (0.2) + 0.1
        (145, 0.05),  # half of [140, 150]
        (150, 0.0),
    ],
)
def test_prob_at_least_by_hand(target, expected):
    assert prob_at_least(80, 100, 140, target)[0] == pytest.approx(expected)


def test_equal_quantiles_are_a_sure_value_and_missing_is_nan():
    assert prob_at_least([5, 5], [5, 5], [5, 5], [5, 6]).tolist() == [1.0, 0.0]
    assert np.isnan(prob_at_least(np.nan, 1, 2, 1)[0])


def _world():
    ds = dataset(
        partners=[
            dict(partner_id="A", joined_on="2020-01-01", region="EU"),
            dict(partner_id="B", joined_on="2020-01-01", region="US"),
        ],
        bookings=[
            dict(partner_id="A", booked_on="2024-12-31", amount=50.0),  # last quarter
            dict(partner_id="A", booked_on="2025-01-10", amount=300.0),
            dict(partner_id="A", booked_on="2025-02-20", amount=999.0),  # after as_of
        ],
        opportunities=[
            # open, due in Q1: counts
            dict(
                opportunity_id="o1",
                partner_id="A",
                created_on="2025-01-05",
                closed_on=None,
                status="open",
                amount=700.0,
                expected_close_on="2025-03-15",
            ),
            # open and overdue: counts in the quarter that holds as_of
            dict(
                opportunity_id="o2",
                partner_id="A",
                created_on="2024-10-05",
                closed_on=None,
                status="open",
                amount=50.0,
                expected_close_on="2024-12-20",
            ),
            # open, due in Q2
            dict(
                opportunity_id="o3",
                partner_id="A",
                created_on="2025-02-01",
                closed_on=None,
                status="open",
                amount=100.0,
                expected_close_on="2025-04-10",
            ),
            # won before as_of: not open
            dict(
                opportunity_id="o4",
                partner_id="A",
                created_on="2025-01-02",
                closed_on="2025-02-01",
                status="won",
                amount=400.0,
                expected_close_on="2025-03-01",
            ),
            # created after as_of: unknown then
            dict(
                opportunity_id="o5",
                partner_id="B",
                created_on="2025-02-20",
                closed_on=None,
                status="open",
                amount=900.0,
                expected_close_on="2025-03-01",
            ),
        ],
    )
    targets = frame(
        "targets",
        [
            dict(quarter_start="2025-01-01", level="partner", key="A", target=650.0),
            dict(quarter_start="2025-01-01", level="partner", key="B", target=100.0),
            dict(quarter_start="2025-01-01", level="total", key=None, target=700.0),
            dict(quarter_start="2025-04-01", level="partner", key="A", target=600.0),
        ],
    )
    return dataclasses.replace(ds, targets=targets)


def _forecasts(**by_key):
    return pd.DataFrame([dict(key=k, p10=v[0], p50=v[1], p90=v[2]) for k, v in by_key.items()])


def test_partner_attainment_by_hand():
    out = build_attainment(
        _world(),
        as_of=AS_OF,
        quarter_start=Q1,
        calendar=CAL,
        group_by=None,
        forecasts=_forecasts(A=(400, 600, 800), B=(100, 200, 300)),
    ).set_index("partner_id")
    a, b = out.loc["A"], out.loc["B"]
    assert a["quarter_elapsed"] == 0.5
    assert a["booked_to_date"] == 300  # not the 50 of last quarter nor the 999 after as_of
    # 300 + 0.5 * (400, 600, 800)
    assert (a["p10"], a["p50"], a["p90"]) == (500, 600, 700)
    assert a["gap_p50"] == 50
    # knots 475, 500, 600, 700, 725: half of [600, 700] (0.2) + 0.1
    assert a["prob_reach_target"] == pytest.approx(0.3)
    assert a["remaining_gap"] == 350
    assert a["pipeline_due"] == 750  # o1 + overdue o2
    assert a["pipeline_coverage"] == pytest.approx(750 / 350)
    # B: nothing booked; 0.5 * (100, 200, 300) = 50, 100, 150 against 100
    assert (b["booked_to_date"], b["p50"], b["gap_p50"]) == (0, 100, 0)
    assert b["prob_reach_target"] == pytest.approx(0.5)
    assert b["pipeline_coverage"] == 0
    assert a["forecast_as_of"] == pd.Timestamp("2024-12-31")


def test_next_quarter_and_total():
    nxt = build_attainment(
        _world(),
        as_of=AS_OF,
        quarter_start=Q2,
        calendar=CAL,
        group_by=None,
        forecasts=_forecasts(A=(400, 600, 800)),
    )
    assert nxt["partner_id"].tolist() == ["A"]  # rows only where a target exists
    row = nxt.iloc[0]
    assert (row["quarter_elapsed"], row["booked_to_date"], row["p50"]) == (0, 0, 600)
    assert row["prob_reach_target"] == pytest.approx(0.5)
    assert row["pipeline_due"] == 100  # only o3 is expected in Q2
    assert row["forecast_as_of"] == AS_OF
    total = build_attainment(
        _world(),
        as_of=AS_OF,
        quarter_start=Q1,
        calendar=CAL,
        group_by="total",
        forecasts=_forecasts(total=(500, 800, 1100)),
    ).iloc[0]
    assert total["group"] == "total"
    assert (total["booked_to_date"], total["p50"]) == (300, 700)
    assert total["prob_reach_target"] == pytest.approx(0.5)


def test_a_finished_quarter_is_what_was_booked():
    out = build_attainment(
        _world(),
        as_of=pd.Timestamp("2025-06-30"),
        quarter_start=Q1,
        calendar=CAL,
        group_by=None,
        forecasts=None,
    ).set_index("partner_id")
    assert out.loc["A", "p50"] == 1299  # 300 + 999
    assert out.loc["A", "prob_reach_target"] == 1.0
    assert np.isnan(out.loc["A", "pipeline_coverage"])  # target reached
    assert out.loc["B", "prob_reach_target"] == 0.0


def test_quarter_checks():
    check_quarter(CAL, AS_OF, Q2)
    with pytest.raises(BadInput, match="first day of a quarter"):
        check_quarter(CAL, AS_OF, pd.Timestamp("2025-02-01"))
    with pytest.raises(BadInput, match="more than 4 quarters"):
        check_quarter(CAL, AS_OF, pd.Timestamp("2026-04-01"))


def test_targets_are_validated_like_every_table(tmp_path):
    from features.data import validate_folder

    (tmp_path / "partners.csv").write_text("partner_id,joined_on\nA,2020-01-01\n")
    (tmp_path / "bookings.csv").write_text("partner_id,booked_on,amount\nA,2024-01-05,10\n")
    (tmp_path / "targets.csv").write_text(
        "quarter_start,level,key,target\n"
        "2025-01-01,partner,A,100\n"
        "2025-01-01,Partner,A,200\n"  # the same target again (level in any case)
        "2025-01-15,region,EMEA,-5\n"  # not a quarter's first day; negative
        "2025-01-01,galaxy,x,5\n"
        "2025-01-01,total,,abc\n"
        "2025-01-01,partner,NOPE,1\n"
        "2025-01-01,tier,,1\n"
    )
    report = validate_folder(tmp_path)
    found = {(p.table, p.column, p.check, p.count) for p in report.problems}
    assert found == {
        ("targets", "key", "unique", 1),
        ("targets", "quarter_start", "quarter_start_day", 1),
        ("targets", "target", "negative", 1),
        ("targets", "level", "level_values", 1),
        ("targets", "target", "unparseable", 1),
        ("targets", "key", "foreign_key", 1),
        ("targets", "key", "key_required", 1),
    }
    assert report.problems[0].examples  # rows are shown


def test_valid_targets_load(tmp_path):
    from features.data import load_dataset

    (tmp_path / "partners.csv").write_text("partner_id,joined_on\nA,2020-01-01\n")
    (tmp_path / "bookings.csv").write_text("partner_id,booked_on,amount\nA,2024-01-05,10\n")
    (tmp_path / "targets.csv").write_text(
        "quarter_start,level,key,target\n2025-01-01,partner,A,100\n2025-01-01,TOTAL,,500\n"
    )
    ds = load_dataset(tmp_path)
    assert "targets" in ds.present and ds.targets["level"].tolist() == ["partner", "total"]
    assert ds.last_date == pd.Timestamp("2024-01-05")  # plans never move the as-of date
