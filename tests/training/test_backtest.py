"""The backtest scores registered reference models next to the baselines (the issue-15 hook)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from training.forecast import MODEL, prepare_training_data, run_backtest


class _MeanRatio:
    """A one-number reference: the training rows' mean of target / revenue_mean_4q."""

    def fit(self, frame: pd.DataFrame) -> _MeanRatio:
        level = frame["revenue_mean_4q"].fillna(0).to_numpy(float)
        self.ratio_ = frame["target"].sum() / max(level.sum(), 1.0)
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.ratio_ * frame["revenue_mean_4q"].fillna(0).to_numpy(float)


def test_reference_models_get_rows_and_ratios(small_world, fast_config) -> None:
    data = prepare_training_data(small_world, as_of=None, calendar=QuarterCalendar())
    result = run_backtest(
        data.frame, data.panel, data.spec, fast_config, references={"ratio": _MeanRatio}
    )
    m = result.metrics
    assert {"wape", "coverage_80", "pinball"} <= set(m.loc[m["model"] == "ratio", "metric"])
    assert (m["metric"] == "wape_ratio_vs_ratio").any()
    p = result.predictions
    assert (p["ratio_p10"] <= p["ratio_p50"]).all() and (p["ratio_p50"] <= p["ratio_p90"]).all()
    assert result.best_baseline() != "ratio"  # a reference is not a baseline
    assert 0 < result.metric(MODEL, "wape") < 2
    # the forecaster's own time, in wall and CPU seconds (make bench's CPU column)
    assert result.model_seconds > 0 and result.model_cpu_seconds > 0
    assert result.model_cpu_seconds < 10 * result.model_seconds  # one thread, not a total
