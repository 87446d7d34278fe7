"""What fitting and backtests share: the feature spec, forecast frame and panel as of a date."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset, ShortHistory
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


MIN_PARTNERS = 10
"""Partners with bookings the forecaster needs: it learns one model across partners."""


def check_history(ds: Dataset, *, as_of: pd.Timestamp, calendar: QuarterCalendar) -> None:
    """Raise :class:`ShortHistory` naming the table, the column and what is missing when the
    bookings up to ``as_of`` cannot train a forecaster: fewer than :data:`MIN_PARTNERS`
    partners with bookings, or a whole quarter without any booking between the first one and
    the last complete quarter (an export that lost a quarter reads as a collapse)."""
    bookings = ds.bookings[ds.bookings["booked_on"] <= as_of]
    if bookings.empty:
        raise ShortHistory(f"bookings.booked_on: no booking on or before {as_of.date()}")
    partners = bookings["partner_id"].nunique()
    if partners < MIN_PARTNERS:
        raise ShortHistory(
            f"bookings.partner_id: {partners} partner{'s' if partners != 1 else ''} with "
            f"bookings up to {as_of.date()}; the forecaster learns across partners and needs "
            f"at least {MIN_PARTNERS}"
        )
    starts = calendar.quarter_starts_between(bookings["booked_on"].min(), as_of)
    expected = starts[calendar.quarter_end(starts) <= as_of]  # complete quarters only
    seen = set(calendar.quarter_start(bookings["booked_on"]).unique())
    empty = [q for q in expected if q not in seen]
    if empty:
        shown = ", ".join(str(q.date()) for q in empty[:8])
        raise ShortHistory(
            f"bookings.booked_on: no booking at all in {len(empty)} quarter"
            f"{'s' if len(empty) != 1 else ''} starting {shown}, between the first booking "
            f"({bookings['booked_on'].min().date()}) and {as_of.date()}: is the export "
            "missing a quarter? Fill it in or pass --as-of before the gap"
        )


def prepare_training_data(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | None,
    calendar: QuarterCalendar,
    build_frame: Callable[..., pd.DataFrame] = build_forecast_frame,
) -> TrainingData:
    """Feature spec, forecast frame and revenue panel as of ``as_of`` (default: data's end),
    after :func:`check_history`. ``build_frame``: ``features.frames.build_forecast_frame`` or
    its Dask twin (``features.distributed.DaskFrames.forecast_frame``)."""
    as_of = ds.as_of(as_of)
    check_history(ds, as_of=as_of, calendar=calendar)
    spec = fit_feature_spec(ds, as_of=as_of, calendar=calendar)
    frame = build_frame(ds, spec=spec, horizons=MAX_HORIZON, data_end=as_of)
    panel = build_revenue_panel(ds, as_of=as_of, calendar=calendar)
    if frame.empty:
        raise ShortHistory(
            f"bookings: no quarter with a known outcome before {as_of.date()}: the forecaster "
            "needs at least two quarters of bookings (one to start from, one to check "
            "against); with two it serves the sales-ops estimate, from three it backtests "
            "(README, 'Young programs')"
        )
    return TrainingData(as_of=as_of, spec=spec, frame=frame, panel=panel)
