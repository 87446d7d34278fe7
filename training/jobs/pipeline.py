"""``train_all``: every model of partnercast trained on one dataset, in order.

The forecaster comes first (its backtest, fit, run, registry version and gate), then
the incentive recommender and ranker as their own run in the same experiment, built
on the forecaster's training data and base forecasts. ``partnercast train`` and the
notebooks both call this, so a notebook retrain is the scheduled job's retrain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.data import Dataset, ShortHistory
from features.distributed import DaskFrames
from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.settings import Settings
from training.forecast import ForecastConfig
from training.jobs.forecaster_run import TrainOutcome, train_forecaster
from training.jobs.recommender_run import RecommenderOutcome, train_recommender
from training.jobs.tracking import configure_tracking, record_not_trained

log = logging.getLogger(__name__)


NO_INCENTIVES = "the dataset has no incentives"


@dataclass(frozen=True)
class TrainAllOutcome:
    """The forecaster's outcome, and the recommender's (None: not trained, and
    ``recommender_skipped`` says why)."""

    forecaster: TrainOutcome
    recommender: RecommenderOutcome | None
    recommender_skipped: str = NO_INCENTIVES


def train_all(
    ds: Dataset,
    *,
    data_path: Path,
    as_of: pd.Timestamp | None,
    settings: Settings,
    config: ForecastConfig | None = None,
    with_recommender: bool = True,
    backtest: bool = True,
    frames: DaskFrames | None = None,
) -> TrainAllOutcome:
    """Train, log, register and gate the forecaster, then (unless told not to) the
    recommender; ``config`` overrides the forecaster's tuned or default settings;
    ``backtest=False`` fits the forecaster without a backtest (``--no-backtest``); ``frames``
    (``--dask``) builds the feature frames per partition of partners on a Dask cluster."""
    client = configure_tracking(settings)
    try:
        forecast = train_forecaster(
            ds,
            data_path=data_path,
            as_of=as_of,
            settings=settings,
            config=config,
            backtest=backtest,
            frames=frames,
        )
    except ShortHistory as exc:  # say why on the registry: forecast, recommend and serve tell
        record_not_trained(client, FORECASTER_MODEL, str(exc))
        if with_recommender:
            reason = f"the forecaster it builds on could not be trained: {exc}"
            record_not_trained(client, RECOMMENDER_MODEL, reason)
        raise
    record_not_trained(client, FORECASTER_MODEL, None)
    if not with_recommender:
        return TrainAllOutcome(forecast, None, recommender_skipped="not asked for")
    try:
        recommender = train_recommender(
            ds,
            forecast.data,
            forecast.forecaster,
            client=client,
            experiment_id=forecast.experiment_id,
            seed=settings.seed,
            frames=frames,
            params=(
                None
                if settings.nuisance_max_rows is None  # the model's default budget
                else {"uplift_params": {"nuisance_max_rows": settings.nuisance_max_rows or None}}
            ),
        )
    except ShortHistory as exc:  # the forecaster stands; say why there is no recommender
        log.warning("the incentive recommender is not trained: %s", exc)
        record_not_trained(client, RECOMMENDER_MODEL, str(exc))
        return TrainAllOutcome(forecast, None, recommender_skipped=str(exc))
    if recommender is None:  # no incentives table: say so to whoever asks for a champion
        record_not_trained(client, RECOMMENDER_MODEL, NO_INCENTIVES)
        return TrainAllOutcome(forecast, None)
    record_not_trained(client, RECOMMENDER_MODEL, None)
    return TrainAllOutcome(forecaster=forecast, recommender=recommender)
