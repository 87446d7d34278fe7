"""What moved since a date, on paper: a linear stand-in for the model, so every cause's
part is a coefficient times a change, and the parts add up to the move."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import BadInput
from features.reporting.changes import CAUSES, cause_of, forecast_changes, weekly_snapshots
from tests.features.builders import dataset

SINCE, AS_OF, Q = pd.Timestamp("2024-12-20"), pd.Timestamp("2025-02-14"), pd.Timestamp("2025-04-01")
COLUMNS = ("horizon", "revenue_lag_1", "open_amount", "opps_won_1q", "tier")


class LinearForecaster:
    """p50 = 5 horizon + revenue_lag_1 + 2 open_amount + 10 opps_won_1q."""

    spec = SimpleNamespace(feature_columns=COLUMNS)

    def __init__(self):
        row = dict(quarter_start=Q, tier="gold")
        self.frames = {
            SINCE: pd.DataFrame(
                [
                    dict(
                        row,
                        partner_id="A",
                        horizon=2,
                        revenue_lag_1=100.0,
                        open_amount=50.0,
                        opps_won_1q=0.0,
                    )
                ]  # fmt: skip
            ),
            AS_OF: pd.DataFrame(
                [
                    dict(
                        row,
                        partner_id="A",
                        horizon=1,
                        revenue_lag_1=130.0,
                        open_amount=20.0,
                        opps_won_1q=3.0,
                    ),  # fmt: skip
                    dict(
                        row,
                        partner_id="B",
                        horizon=1,
                        revenue_lag_1=0.0,
                        open_amount=10.0,
                        opps_won_1q=0.0,
                    ),  # fmt: skip
                ]
            ),
        }

    def scoring_rows(self, ds, *, as_of, horizon):
        return self.frames[pd.Timestamp(as_of)]

    def score(self, rows, num_threads=1):
        p50 = 5 * rows["horizon"] + rows["revenue_lag_1"] + 2 * rows["open_amount"]
        p50 = p50 + 10 * rows["opps_won_1q"]
        return rows[["partner_id", "quarter_start", "horizon"]].assign(p50=p50.astype(float))


def _ds():
    return dataset(
        partners=[
            dict(partner_id="A", joined_on="2020-01-01", region="EU"),
            dict(partner_id="B", joined_on="2025-01-10", region="US"),
        ]
    )


def _changes(**kw):
    return forecast_changes(
        _ds(), LinearForecaster(), since=SINCE, as_of=AS_OF, calendar=QuarterCalendar(),
        model_version="2", **kw,
    )  # fmt: skip


def test_feature_columns_map_to_causes():
    assert cause_of("revenue_lag_1") == "bookings"
    assert cause_of("open_amount_close_next_q") == "pipeline_open"
    assert cause_of("won_amount_4q") == "pipeline_won"
    assert cause_of("opps_lost_1q") == "pipeline_lost"
    assert cause_of("created_amount_1q") == "pipeline_created"
    assert cause_of("activity_qty_1q") == "engagement"
    assert cause_of("horizon") == "time"
    assert cause_of("tier") == "other"


def test_the_data_move_by_hand():
    out = _changes().set_index("key")
    a = out.loc["A"]
    # then 5*2 + 100 + 2*50 + 0 = 210; now 5 + 130 + 40 + 30 = 205
    assert (a["p50_then"], a["p50_now"], a["delta"]) == (210, 205, -5)
    assert (a["time"], a["bookings"], a["pipeline_open"], a["pipeline_won"]) == (-5, 30, -60, 30)
    b = out.loc["B"]  # joined after since: all of its forecast is new
    assert (b["p50_then"], b["p50_now"], b["new_partner"]) == (0, 25, 25)
    assert (out[list(CAUSES)].sum(axis=1) == out["delta"]).all()
    assert out.index.tolist() == ["B", "A"]  # the biggest move first


def test_model_version_and_override_by_hand():
    recorded = pd.DataFrame(
        [
            dict(
                key="A",
                quarter_start=Q,
                as_of=pd.Timestamp("2024-12-15"),
                model_version="1",
                p50=200.0,
            )
        ]  # fmt: skip
    )
    overrides = pd.DataFrame(
        [
            dict(level="partner", key="A", quarter_start=Q, p50=300.0,  # made after since
                 created_at=dt.datetime(2025, 1, 5, 9, tzinfo=dt.UTC), removed_at=None),
            dict(level="partner", key="A", quarter_start=Q, p50=999.0,  # gone before since
                 created_at=dt.datetime(2024, 12, 1, tzinfo=dt.UTC),
                 removed_at=dt.datetime(2024, 12, 10, tzinfo=dt.UTC)),
        ]
    )  # fmt: skip
    out = _changes(recorded=recorded, overrides=overrides).set_index("key")
    a = out.loc["A"]
    assert a["p50_then"] == 200  # as recorded by model v1
    assert a["model_version"] == 10  # v2 on the same data says 210
    assert a["p50_now"] == 300 and a["override"] == 300 - 205
    assert a["delta"] == 100 == 10 - 5 + 30 - 60 + 30 + 95
    total = _changes(recorded=recorded, overrides=overrides, group_by="total").iloc[0]
    assert (total["key"], total["p50_then"], total["p50_now"], total["delta"]) == (
        "total", 200, 325, 125
    )  # fmt: skip
    regions = _changes(group_by="region").set_index("key")
    assert regions.loc["EU", "delta"] == -5 and regions.loc["US", "new_partner"] == 25


def test_bad_dates():
    with pytest.raises(BadInput, match="must be before"):
        forecast_changes(_ds(), LinearForecaster(), since=AS_OF, as_of=AS_OF,
                         calendar=QuarterCalendar(), model_version="2")  # fmt: skip
    with pytest.raises(BadInput, match="more than 4 quarters"):
        forecast_changes(_ds(), LinearForecaster(), since="2023-01-01", as_of=AS_OF,
                         calendar=QuarterCalendar(), model_version="2")  # fmt: skip


def test_weekly_snapshots_from_the_ledger():
    recorded = pd.DataFrame(
        {
            "key": ["A", "B", "A"],
            "quarter_start": [Q, Q, Q],
            "as_of": pd.to_datetime(["2025-01-01", "2025-01-08", "2025-01-09"]),
            "p50": [100.0, 50.0, 120.0],
        }
    )
    weeks = weekly_snapshots(recorded, quarter_start=Q, since="2025-01-01", until="2025-01-15")
    # Sundays 5th and 12th, then the 15th: A alone, then A's newer forecast plus B
    assert weeks["week_end"].dt.strftime("%m-%d").tolist() == ["01-05", "01-12", "01-15"]
    assert weeks["p50"].tolist() == [100, 170, 170]
    assert weeks["partners"].tolist() == [1, 2, 2]
