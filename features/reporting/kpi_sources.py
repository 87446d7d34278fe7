"""The KPIs with what they need from the models: start-of-quarter forecasts and MDF return.

``channel_kpis`` is the one call the CLI (``partnercast kpis``) and the API (``POST /kpis``)
share, so both give the same numbers.

The forecast a partner's quarter is judged against is the champion's P50 for the quarter
containing ``as_of`` *as it stood at the quarter's start*. It comes from, in order:

1. ``ledger``: the forecast recorded in the forecast ledger (by ``partnercast forecast``
   or the API) with the latest as-of date before the quarter started: what was really
   said at the time, by the champion of the time;
2. ``rescored``: the current champion scored on features as of the day before the
   quarter started (point in time: nothing later reaches the features);
   ``rescored_in_sample`` when that champion was trained on data through the end of the
   quarter, so it has seen the outcome (the number is then optimistic; say so when
   you show it).

Groups use the forecaster's coherent group forecast (the same as ``/forecast/aggregate``)
from the same rescoring, or, when every partner's forecast came from the ledger, the sum
of those. The MDF return is the recommender's uplift of MDF over ``none`` per dollar of
its expected cost, for each partner, as of the recommender's training date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.names import FORECASTER_MODEL
from features.reporting.attainment import quota_odds
from features.reporting.kpis import build_partner_kpis, group_kpis

LEDGER, RESCORED, IN_SAMPLE = "ledger", "rescored", "rescored_in_sample"
TARGET_COLUMNS = ("target", "gap_p50", "prob_reach_target", "pipeline_coverage")
SOURCE_COLUMNS = ("forecast_source", "forecast_as_of", "forecast_model_version")


def mdf_return_per_dollar(recommender: Any | None, mdf_incentive: str) -> pd.Series | None:
    """Partner_id -> estimated incremental revenue per MDF dollar (None: no MDF estimates)."""
    if recommender is None:
        return None
    names = {name.lower(): name for name in recommender.incentives}
    name = names.get(mdf_incentive.lower())
    if name is None:
        return None
    options = recommender.options
    uplift = options[f"uplift_{name}"].to_numpy(dtype=float)
    cost = options[f"cost_{name}"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(cost > 0, uplift / cost, np.nan)
    return pd.Series(ratio, index=options["partner_id"].astype(str).to_numpy())


def ledger_forecasts(url: str, quarter_start: pd.Timestamp) -> pd.DataFrame:
    """The ledger's start-of-quarter partner forecasts of the forecaster (read-only).

    A ledger that does not exist yet reads as empty and is not created by reading it.
    """
    from features.reporting.ledger import ForecastLedger

    with ForecastLedger(url, create=False) as ledger:
        return ledger.as_stood(quarter_start, model_name=FORECASTER_MODEL)


def _from_ledger(ledger: pd.DataFrame | None) -> pd.DataFrame:
    columns = ["partner_id", "forecast_p50_quarter", *SOURCE_COLUMNS]
    if ledger is None or ledger.empty:
        return pd.DataFrame(columns=columns)
    return pd.DataFrame(
        {
            "partner_id": ledger["partner_id"].astype(str).to_numpy(),
            "forecast_p50_quarter": ledger["p50"].to_numpy(dtype=float),
            "forecast_source": LEDGER,
            "forecast_as_of": pd.to_datetime(ledger["as_of"]).to_numpy(),
            "forecast_model_version": ledger["model_version"].astype(str).to_numpy(),
        }
    )


def _rescoring_rows(
    ds: Dataset, forecaster: Any, quarter_start: pd.Timestamp
) -> pd.DataFrame | None:
    """Horizon-1 scoring rows as of the day before the quarter (None: calendars differ)."""
    rows = forecaster.scoring_rows(ds, as_of=quarter_start - pd.Timedelta(days=1), horizon=1)
    rows = rows[pd.to_datetime(rows["quarter_start"]) == quarter_start]
    return rows if len(rows) else None


def channel_kpis(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | str,
    calendar: QuarterCalendar,
    group_by: str | None = None,
    forecaster: Any | None = None,
    forecaster_version: str | None = None,
    recommender: Any | None = None,
    ledger_forecasts: pd.DataFrame | None = None,
    mdf_incentive: str = "mdf",
    seed: int = 42,
) -> pd.DataFrame:
    """Partner KPIs (``group_by`` None or ``partner``) or group KPIs, with their sources.

    ``forecaster`` is a ``PartnerForecaster`` (None: forecasts only from the ledger),
    ``recommender`` a ``PartnerRecommender`` (None: no MDF return), ``ledger_forecasts``
    the ledger's start-of-quarter partner forecasts for the quarter of ``as_of``
    (``partner_id, as_of, model_version, p50``).
    """
    as_of = pd.Timestamp(as_of).normalize()
    quarter_start = pd.Timestamp(calendar.quarter_start(as_of))
    known = _from_ledger(ledger_forecasts)
    made = quarter_start - pd.Timedelta(days=1)
    existing = ds.partners.loc[ds.partners["joined_on"] <= made, "partner_id"].astype(str)
    unrecorded = set(existing) - set(known["partner_id"])
    rows = None  # rescoring rows: only when some partner's forecast is not in the ledger
    if forecaster is not None and unrecorded:
        rows = _rescoring_rows(ds, forecaster, quarter_start)
    rescored = pd.DataFrame(columns=known.columns)
    if rows is not None:
        scores = forecaster.score(
            rows[rows["partner_id"].astype(str).isin(unrecorded)], num_threads=1
        )
        in_sample = pd.Timestamp(forecaster.as_of) >= calendar.quarter_end(as_of)
        rescored = pd.DataFrame(
            {
                "partner_id": scores["partner_id"].astype(str).to_numpy(),
                "forecast_p50_quarter": scores["p50"].to_numpy(dtype=float),
                "forecast_source": IN_SAMPLE if in_sample else RESCORED,
                "forecast_as_of": made,
                "forecast_model_version": forecaster_version or "",
            }
        )
    parts = [f for f in (known, rescored) if len(f)]
    forecasts = (pd.concat(parts, ignore_index=True) if parts else known).set_index("partner_id")
    partners = build_partner_kpis(
        ds,
        as_of=as_of,
        calendar=calendar,
        mdf_incentive=mdf_incentive,
        forecast_p50=forecasts["forecast_p50_quarter"],
        mdf_roi=mdf_return_per_dollar(recommender, mdf_incentive),
    )
    sources = forecasts.reindex(partners["partner_id"].astype(str))
    for column in SOURCE_COLUMNS:
        partners[column] = sources[column].to_numpy()
    if group_by is None or group_by == "partner":
        return with_targets(partners, ds, as_of, calendar, None, forecaster, seed)
    group_forecast, source = None, LEDGER
    if rows is not None:
        totals = forecaster.aggregate(group_by, 1, rows=rows, seed=seed, num_threads=1)
        group_forecast = totals.set_index(totals["group"].astype(str))["p50"]
        source = rescored["forecast_source"].iloc[0] if len(rescored) else RESCORED
    groups = group_kpis(partners, group_by, group_forecast_p50=group_forecast)
    has_forecast = groups["forecast_p50_quarter"].notna()
    groups["forecast_source"] = np.where(has_forecast, source, None)
    return with_targets(groups, ds, as_of, calendar, group_by, forecaster, seed)


def with_targets(
    kpis: pd.DataFrame,
    ds: Dataset,
    as_of: pd.Timestamp,
    calendar: QuarterCalendar,
    group_by: str | None,
    forecaster: Any | None,
    seed: int,
) -> pd.DataFrame:
    """The KPIs with the quota odds of this quarter and the next (``_next``) where a
    target exists (:mod:`features.reporting.attainment`); no targets, no columns."""
    if ds.targets.empty:
        return kpis
    key = "partner_id" if group_by is None else "group"
    this = pd.Timestamp(calendar.quarter_start(as_of))
    following = pd.Timestamp(calendar.index_to_start(calendar.quarter_index(this) + 1))
    out = kpis.copy()
    for start, suffix in ((this, ""), (following, "_next")):
        odds = quota_odds(
            ds,
            as_of=as_of,
            quarter_start=start,
            calendar=calendar,
            group_by=group_by,
            forecaster=forecaster,
            seed=seed,
        ).set_index(key)
        keys = out[key].astype(str)
        for column in TARGET_COLUMNS:
            out[column + suffix] = odds[column].reindex(keys).to_numpy(dtype=float)
    return out
