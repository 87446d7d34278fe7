"""What fitting and backtests share: the feature spec, forecast frame and panel as of a date."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.families import build_revenue_panel
from features.frames import build_forecast_frame, fit_feature_spec
from features.scoring import MAX_HORIZON
from features.spec import FeatureSpec


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
    as_of = ds.as_of(as_of)
    spec = fit_feature_spec(ds, as_of=as_of, calendar=calendar)
    frame = build_forecast_frame(ds, spec=spec, horizons=MAX_HORIZON, data_end=as_of)
    panel = build_revenue_panel(ds, as_of=as_of, calendar=calendar)
    if frame.empty:
        raise ValueError(
            f"no complete quarter with a known outcome before {as_of.date()}: "
            "the forecaster needs at least a few quarters of bookings"
        )
    return TrainingData(as_of=as_of, spec=spec, frame=frame, panel=panel)
