"""Fit the deployed forecaster: features as of a date, quantile boosters, snapshot.

The result is a :class:`features.scoring.forecaster.PartnerForecaster`, the
object the CLI and the API score with after loading it from the registry.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from features.calendar import QuarterCalendar
from features.data.dataset import Dataset
from features.families.panel import build_revenue_panel
from features.frames import build_forecast_frame, build_scoring_frame, fit_feature_spec
from features.scoring.forecaster import MAX_HORIZON, PartnerForecaster
from features.spec import FeatureSpec
from training.forecast.backtest import BacktestResult, ForecastConfig, model_matrix, run_backtest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """Everything built from a dataset as of one date that fitting and backtests share."""

    as_of: pd.Timestamp
    spec: FeatureSpec
    frame: pd.DataFrame  # forecast frame: targets known by as_of
    panel: pd.DataFrame  # revenue panel up to as_of


def prepare_training_data(
    ds: Dataset, *, as_of: pd.Timestamp | None, calendar: QuarterCalendar
) -> TrainingData:
    """Feature spec, forecast frame and revenue panel as of ``as_of`` (default: data's end)."""
    as_of = pd.Timestamp(as_of if as_of is not None else ds.last_date).normalize()
    spec = fit_feature_spec(ds, as_of=as_of, calendar=calendar)
    frame = build_forecast_frame(ds, spec=spec, horizons=MAX_HORIZON, data_end=as_of)
    panel = build_revenue_panel(ds, as_of=as_of, calendar=calendar)
    if frame.empty:
        raise ValueError(
            f"no complete quarter with a known outcome before {as_of.date()}: "
            "the forecaster needs at least a few quarters of bookings"
        )
    return TrainingData(as_of=as_of, spec=spec, frame=frame, panel=panel)


def backtest_forecaster(data: TrainingData, config: ForecastConfig) -> BacktestResult:
    """Rolling-origin backtest of ``config`` with the baselines, on ``data``."""
    return run_backtest(data.frame, data.panel, data.spec, config)


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
