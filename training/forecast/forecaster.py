"""Fit the deployed forecaster: features as of a date, quantile boosters, snapshot.

The result is a :class:`features.scoring.forecaster.PartnerForecaster`, the
object the CLI and the API score with after loading it from the registry.
"""

from __future__ import annotations

import logging

from features.data import Dataset
from features.frames import build_scoring_frame
from features.scoring import MAX_HORIZON, PartnerForecaster
from training.forecast.config import ForecastConfig, model_matrix
from training.forecast.training_data import TrainingData

log = logging.getLogger(__name__)


def fit_forecaster(
    ds: Dataset,
    data: TrainingData,
    config: ForecastConfig,
    *,
    rho: dict[int, float],
    info: dict | None = None,
) -> PartnerForecaster:
    """Fit on every known target and snapshot the features of all partners as of the date."""
    frame = data.frame
    log.info("fitting the forecaster on %d rows", len(frame))
    model = config.estimator().fit(
        model_matrix(frame, data.spec),
        frame["target"].to_numpy(float),
        time=frame["quarter_start"],
        horizon=frame["horizon"].to_numpy(),
    )
    snapshot = build_scoring_frame(ds, as_of=data.as_of, spec=data.spec, horizon=MAX_HORIZON)
    return PartnerForecaster(
        bundle=model.bundle_,
        spec=data.spec,
        snapshot=snapshot,
        as_of=data.as_of,
        rho=rho,
        info=info or {},
    )
