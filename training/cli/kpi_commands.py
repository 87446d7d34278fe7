"""``partnercast kpis``: channel KPIs per partner or group, as of any date.

The numbers come from :func:`features.reporting.kpi_sources.channel_kpis`, the same call the API's
``POST /kpis`` makes. Models are optional here: without a champion forecaster the
forecast and attainment columns are empty, without a recommender (or without
incentives) the MDF return is; a warning on stderr says which and why.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, load_dataset, write_csv_atomically
from features.names import FORECASTER_MODEL
from features.reporting import channel_kpis, ledger_forecasts
from features.scoring import NoChampionError, load_champion
from features.settings import Settings

log = logging.getLogger(__name__)

SHOWN = ["revenue_qtd", "revenue_ytd", "forecast_p50_quarter", "open_pipeline", "mdf_spend_4q"]


def _forecaster(settings: Settings) -> tuple[Any | None, str | None]:
    if not settings.has_tracking_store:
        log.warning("no MLflow store at %s: KPIs without forecasts", settings.store_dir)
        return None, None
    try:
        champion = load_champion(FORECASTER_MODEL, settings.resolved_tracking_uri)
    except NoChampionError as exc:
        log.warning("%s: KPIs without forecasts", exc)
        return None, None
    return champion.model.forecaster, champion.version


def _recommender(ds: Any, args: argparse.Namespace, settings: Settings) -> Any | None:
    """The recommender as of the KPIs' date, or None (no incentives, store or champion)."""
    if "incentives" not in ds.present or ds.incentives.empty or not settings.has_tracking_store:
        log.warning("no incentives or no MLflow store: KPIs without the MDF return")
        return None
    from training.cli.incentive_commands import recommender_as_of  # heavy: MLflow, LightGBM

    try:
        return recommender_as_of(ds, args, settings)
    except NoChampionError as exc:
        log.warning("%s: KPIs without the MDF return", exc)
        return None


def cmd_kpis(args: argparse.Namespace, settings: Settings) -> int:
    ds = load_dataset(args.data)
    calendar = QuarterCalendar(settings.fy_start_month)
    as_of = ds.as_of(args.as_of)
    if not (ds.partners["joined_on"] <= as_of).any():
        first = ds.partners["joined_on"].min().date()
        raise BadInput(f"no partner had joined by {as_of.date()} (the first joined on {first})")
    quarter_start = pd.Timestamp(calendar.quarter_start(as_of))
    forecaster, version = _forecaster(settings)
    frame = channel_kpis(
        ds,
        as_of=as_of,
        calendar=calendar,
        group_by=args.group_by,
        forecaster=forecaster,
        forecaster_version=version,
        recommender=_recommender(ds, args, settings),
        ledger_forecasts=ledger_forecasts(settings.resolved_ledger_url, quarter_start),
        mdf_incentive=settings.mdf_incentive,
        seed=settings.seed,
    )
    write_csv_atomically(frame, args.out)
    key = "partner_id" if args.group_by == "partner" else "group"
    print(f"as_of: {as_of.date()} (quarter {calendar.label(as_of)} from {quarter_start.date()})")
    print(f"{len(frame)} {'partners' if key == 'partner_id' else args.group_by + ' groups'}")
    for column in SHOWN:
        print(f"total {column}: {frame[column].sum(min_count=1):,.0f}")
    sources = frame["forecast_source"].fillna("none").value_counts()
    print("forecast source: " + ", ".join(f"{k} {v}" for k, v in sources.items()))
    top = frame.sort_values("leaderboard_rank").head(5)
    leaders = (f"{row[key]} {row['revenue_ytd']:,.0f}" for _, row in top.iterrows())
    print("leaderboard (revenue YTD): " + ", ".join(leaders))
    print(f"wrote {len(frame)} rows to {args.out}")
    return 0
