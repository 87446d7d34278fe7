"""Reports people read: realised accuracy, the partner scorecard, training artifacts.

- ``accuracy``: matured forecasts of the ledger against actuals, by model, horizon and
  segment; ``scorecard`` (the numbers) and ``scorecard_figure`` (the one-page PNG);
- ``artifacts``: feature importance, calibration and fan-chart plots logged with a run.
"""

from training.reports.accuracy import accuracy_report, format_report, matured_forecasts
from training.reports.artifacts import feature_importance, plot_calibration, plot_fan_charts
from training.reports.scorecard import ScorecardData, scorecard_data
from training.reports.scorecard_figure import render_scorecard

__all__ = [
    "ScorecardData",
    "accuracy_report",
    "feature_importance",
    "format_report",
    "matured_forecasts",
    "plot_calibration",
    "plot_fan_charts",
    "render_scorecard",
    "scorecard_data",
]
