"""The recommender's calibration against the latest randomized test, for its MLflow run.

The latest complete quarter (ending on or before the training as-of date) with randomized
rows and a ``none`` arm is read with :func:`features.reporting.experiments.read_experiment`;
the predictions are the newly fitted model's uplifts from features as of the day before
that quarter started (point in time for the partners; the model itself has seen the
quarter's outcomes, so this is an in-sample check of scale, not a forecast test). Logged as
``experiment_calibration_slope``, ``..._intercept`` with their 95 % interval ends and the
param ``experiment_quarter``; nothing is logged when the data hold no such test.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import mlflow
import pandas as pd

from features.data import Dataset
from features.frames import build_features
from features.names import NONE
from features.reporting.experiments import (
    Calibration,
    ExperimentError,
    randomized_units,
    read_experiment,
)
from features.spec import FeatureSpec

log = logging.getLogger(__name__)


def latest_experiment_calibration(
    ds: Dataset, model: Any, spec: FeatureSpec, *, as_of: pd.Timestamp
) -> tuple[pd.Timestamp, Calibration] | None:
    """(quarter, calibration) of the latest test complete by ``as_of``; None without one.

    ``model`` is anything with ``recommend(features)`` returning ``partner_id`` and
    ``uplift_<incentive>`` columns (the incentive recommender's public API)."""
    calendar = spec.calendar
    try:
        units, _ = randomized_units(ds, calendar)
    except ExperimentError as exc:
        log.info("no experiment to calibrate against: %s", exc)
        return None
    ends = pd.DatetimeIndex(calendar.quarter_end(units["quarter_start"]))
    tested = units[(ends <= as_of) & (units["arm"] == NONE)]["quarter_start"]
    if tested.empty:
        log.info("no randomized quarter with a none arm complete by %s", as_of.date())
        return None
    quarter = pd.Timestamp(tested.max())
    features = build_features(ds, as_of=quarter - pd.Timedelta(days=1), spec=spec)
    options = model.recommend(features)
    report = read_experiment(ds, calendar=calendar, options=options, quarter_start=quarter)
    return quarter, report.calibration


def log_experiment_calibration(
    ds: Dataset, model: Any, spec: FeatureSpec, *, as_of: pd.Timestamp
) -> dict[str, float]:
    """Log the calibration into the active MLflow run; the logged metrics (may be empty)."""
    found = latest_experiment_calibration(ds, model, spec, as_of=as_of)
    if found is None:
        return {}
    quarter, calibration = found
    metrics = {k: v for k, v in calibration.metrics().items() if math.isfinite(v)}
    mlflow.log_param("experiment_quarter", str(quarter.date()))
    mlflow.log_metrics(metrics)
    log.info("calibration against the test of %s: %s", quarter.date(), metrics)
    return metrics
