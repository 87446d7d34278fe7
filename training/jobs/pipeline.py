"""``train_all``: every model of partnercast trained on one dataset, in order.

The forecaster comes first (its backtest, fit, run, registry version and gate), then
the incentive recommender and ranker as their own run in the same experiment, built
on the forecaster's training data and base forecasts. ``partnercast train`` and the
notebooks both call this, so a notebook retrain is the scheduled job's retrain.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.data import Dataset
from features.settings import Settings
from training.forecast import ForecastConfig
from training.jobs.forecaster_run import TrainOutcome, train_forecaster
from training.jobs.recommender_run import RecommenderOutcome, train_recommender
from training.jobs.tracking import configure_tracking


@dataclass(frozen=True)
class TrainAllOutcome:
    """The forecaster's outcome, and the recommender's (None: not trained, no incentives)."""

    forecaster: TrainOutcome
    recommender: RecommenderOutcome | None


def train_all(
    ds: Dataset,
    *,
    data_path: Path,
    as_of: pd.Timestamp | None,
    settings: Settings,
    config: ForecastConfig | None = None,
    with_recommender: bool = True,
) -> TrainAllOutcome:
    """Train, log, register and gate the forecaster, then (unless told not to) the
    recommender; ``config`` overrides the forecaster's tuned or default settings."""
    forecast = train_forecaster(
        ds, data_path=data_path, as_of=as_of, settings=settings, config=config
    )
    if not with_recommender:
        return TrainAllOutcome(forecaster=forecast, recommender=None)
    recommender = train_recommender(
        ds,
        forecast.data,
        forecast.forecaster,
        client=configure_tracking(settings),
        experiment_id=forecast.experiment_id,
        seed=settings.seed,
    )
    return TrainAllOutcome(forecaster=forecast, recommender=recommender)
