"""Where the KPIs' model numbers come from: the ledger first, then the champion rescored.

A stub forecaster records the as-of date it is scored at (the day before the quarter, so
nothing later reaches the features) and answers 10 per partner, 1,000 per group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from features.reporting.kpi_sources import (
    IN_SAMPLE,
    LEDGER,
    RESCORED,
    channel_kpis,
    mdf_return_per_dollar,
)
from tests.features.test_kpis import AS_OF, FEB, kpi_dataset

QUARTER = pd.Timestamp("2024-08-01")  # q0 of AS_OF with the February fiscal year


@dataclass
class StubForecaster:
    as_of: pd.Timestamp
    scored_as_of: list[pd.Timestamp] = field(default_factory=list)

    def scoring_rows(self, ds, *, as_of, horizon):
        self.scored_as_of.append(pd.Timestamp(as_of))
        joined = ds.partners[ds.partners["joined_on"] <= as_of]
        return pd.DataFrame(
            {
                "partner_id": joined["partner_id"].to_numpy(),
                "region": joined["region"].to_numpy(),
                "quarter_start": QUARTER,
                "horizon": 1,
            }
        )

    def score(self, rows, *, num_threads=0):
        return rows.assign(p10=5.0, p50=10.0, p90=20.0)

    def aggregate(self, group_by, horizon, *, rows, seed, num_threads):
        groups = rows[group_by].astype("string").fillna("unknown").unique()
        return pd.DataFrame({"group": groups, "p50": 1000.0})


@dataclass
class StubRecommender:
    options: pd.DataFrame

    @property
    def incentives(self):
        return [c[len("uplift_") :] for c in self.options.columns if c.startswith("uplift_")]


LEDGER_ROWS = pd.DataFrame(
    {
        "partner_id": ["P1"],
        "as_of": [pd.Timestamp("2024-07-31")],
        "model_version": ["3"],
        "horizon": [1],
        "p10": [300.0],
        "p50": [500.0],
        "p90": [700.0],
    }
)


def kpis(forecaster, **kw) -> pd.DataFrame:
    return channel_kpis(
        kpi_dataset(),
        as_of=AS_OF,
        calendar=FEB,
        forecaster=forecaster,
        forecaster_version="7",
        **kw,
    )


def test_the_ledger_comes_first_and_the_rest_is_rescored_the_day_before() -> None:
    stub = StubForecaster(as_of=pd.Timestamp("2024-06-30"))
    k = kpis(stub, ledger_forecasts=LEDGER_ROWS).set_index("partner_id")
    assert stub.scored_as_of == [pd.Timestamp("2024-07-31")]
    assert k.loc["P1", ["forecast_p50_quarter", "forecast_source"]].tolist() == [500.0, LEDGER]
    assert k.loc["P1", "forecast_model_version"] == "3"
    assert k.loc["P1", "attainment_vs_forecast"] == pytest.approx(260 / 500)
    # P2 joined 2024-06-10, before the quarter: rescored by the current champion
    assert k.loc["P2", ["forecast_p50_quarter", "forecast_source"]].tolist() == [10.0, RESCORED]
    assert k.loc["P2", "forecast_model_version"] == "7"


def test_a_champion_trained_through_the_quarter_is_flagged_in_sample() -> None:
    k = kpis(StubForecaster(as_of=pd.Timestamp("2024-10-31"))).set_index("partner_id")
    assert set(k["forecast_source"]) == {IN_SAMPLE}


def test_without_models_only_the_ledger_counts() -> None:
    k = kpis(None, ledger_forecasts=LEDGER_ROWS).set_index("partner_id")
    assert k["forecast_p50_quarter"].dropna().to_dict() == {"P1": 500.0}
    g = kpis(None, ledger_forecasts=LEDGER_ROWS, group_by="region").set_index("group")
    assert g.loc["emea", "forecast_p50_quarter"] == 500.0
    assert np.isnan(g.loc["amer", "forecast_p50_quarter"])


def test_groups_take_the_forecasters_coherent_group_forecast() -> None:
    g = kpis(StubForecaster(as_of=pd.Timestamp("2024-06-30")), group_by="region")
    g = g.set_index("group")
    assert g["forecast_p50_quarter"].to_dict() == {"amer": 1000.0, "emea": 1000.0}
    assert g.loc["emea", "attainment_vs_forecast"] == pytest.approx(280 / 1000)
    assert set(g["forecast_source"]) == {RESCORED}


def test_mdf_return_is_uplift_per_dollar_of_the_mdf_option() -> None:
    options = pd.DataFrame(
        {
            "partner_id": ["P1", "P2"],
            "uplift_MDF": [900.0, 50.0],
            "cost_MDF": [300.0, 0.0],
            "uplift_spiff": [1.0, 1.0],
            "cost_spiff": [1.0, 1.0],
        }
    )
    roi = mdf_return_per_dollar(StubRecommender(options), "mdf")
    assert roi["P1"] == 3.0 and np.isnan(roi["P2"])
    assert mdf_return_per_dollar(StubRecommender(options[["partner_id"]]), "mdf") is None
    assert mdf_return_per_dollar(None, "mdf") is None
