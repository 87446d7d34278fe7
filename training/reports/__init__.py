"""Reports people read: the partner scorecard, training artifacts.

(Realised accuracy and forecast value added are in ``features.reporting``: the service's
app shows them too.)

- ``scorecard`` (the numbers) and ``scorecard_figure`` (the one-page PNG);
- ``artifacts``: feature importance, calibration and fan-chart plots logged with a run.
"""

from training.reports.artifacts import feature_importance, plot_calibration, plot_fan_charts
from training.reports.scorecard import ScorecardData, scorecard_data
from training.reports.scorecard_figure import render_scorecard

__all__ = [
    "ScorecardData",
    "feature_importance",
    "plot_calibration",
    "plot_fan_charts",
    "render_scorecard",
    "scorecard_data",
]
