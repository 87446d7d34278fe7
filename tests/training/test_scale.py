"""What keeps the recommender's training cost per partner flat (issue 20): no step that reads
every partner once per partner."""

from __future__ import annotations

import pandas as pd

from training.jobs.recommender_run import growth_outlook


class CountingForecaster:
    """A forecaster stub: P50 next quarter = 100 x the partner's number; counts how often its
    ``partner_ids`` (a property that reads the whole snapshot) is read."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.reads = 0

    @property
    def partner_ids(self) -> pd.Index:
        self.reads += 1
        return pd.Index(self.ids)

    def forecast(self, ids: list[str], horizon: int) -> pd.DataFrame:
        assert horizon == 1
        return pd.DataFrame({"partner_id": ids, "p50": [100.0 * int(p[1:]) for p in ids]})


def test_growth_outlook_reads_the_forecasters_partners_once() -> None:
    # P3 joined after the forecaster's training date: no forecast, no growth
    features = pd.DataFrame(
        {
            "partner_id": pd.array(["P1", "P2", "P3"], dtype="string"),
            "revenue_lag_1": [40.0, 500.0, 7.0],
        }
    )
    forecaster = CountingForecaster(["P1", "P2"])
    growth = growth_outlook(forecaster, features)  # type: ignore[arg-type]
    assert growth.to_dict() == {"P1": 60.0, "P2": -300.0}
    assert forecaster.reads == 1
