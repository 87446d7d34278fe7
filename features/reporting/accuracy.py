"""Realised accuracy of recorded forecasts: what was forecast against what happened.

Pure functions of frames. :func:`matured_forecasts` keeps the ledger's partner forecasts
whose quarter has ended by the data's last date, :func:`join_actuals` puts each next to
the partner's actual revenue in that quarter (the revenue panel: 0 for a quarter without
bookings), and :func:`accuracy_report` scores them by model, horizon and segment with
the backtest's own metric functions (``features.metrics``), so a ledger filled by a
backtest replay gives back the backtest's numbers.

Every distinct recorded forecast counts once (a forecast recorded again by the CLI and
the API is one row in the ledger). Segments use the partners' attributes as they are in
the data now. A segment's coverage is flagged when it is below the floor and the segment
has at least :data:`MIN_FLAG_FORECASTS` forecasts; smaller segments are shown, marked
``small``, never flagged: with independent errors a well-calibrated 80% interval covers
fewer than 70% of 20 forecasts one time in twelve by chance alone, of 30 one time in
sixteen, and errors within a quarter are correlated, which makes small samples noisier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features import metrics
from features.calendar import QuarterCalendar

SEGMENTS: tuple[str, ...] = ("region", "tier", "partner_type")
MIN_FLAG_FORECASTS = 30
REPORT_COLUMNS = [
    "model_name",
    "model_version",
    "horizon",
    "segment",
    "group",
    "forecasts",
    "partners",
    "quarters",
    "actual",
    "p50",
    "wape",
    "bias",
    "coverage_80",
    "small",
    "low_coverage",
]


def quarter_end(quarter_start: pd.Series) -> pd.Series:
    """The last day of each quarter (quarters are three calendar months long)."""
    return quarter_start + pd.DateOffset(months=3) - pd.Timedelta(days=1)


def matured_forecasts(forecasts: pd.DataFrame, *, last_date: pd.Timestamp) -> pd.DataFrame:
    """Partner-level ledger rows whose quarter ended on or before ``last_date``."""
    partner = forecasts[forecasts["level"] == "partner"]
    done = quarter_end(partner["quarter_start"]) <= pd.Timestamp(last_date).normalize()
    return partner[done].reset_index(drop=True)


@dataclass(frozen=True)
class Realised:
    """Forecasts with their actuals, and the partner ids that had to be left out."""

    frame: pd.DataFrame  # ledger columns + partner_id, actual, region, tier, partner_type
    unknown_partners: list[str]  # forecast but not in the data: dropped
    dropped_forecasts: int


def join_actuals(
    forecasts: pd.DataFrame,
    panel: pd.DataFrame,
    partners: pd.DataFrame,
    calendar: QuarterCalendar,
) -> Realised:
    """Each matured partner forecast with its quarter's actual revenue and attributes.

    ``panel`` is the revenue panel built with ``calendar`` (``partner_id,
    quarter_start, revenue``; a row for every quarter of every partner since it
    joined), ``partners`` the partners table. A partner of the data with no panel row
    for the quarter had no revenue then (0). Raises ``ValueError`` when a forecast's
    quarter does not start on one of ``calendar``'s quarter starts (forecasts made
    under another fiscal calendar cannot be compared).
    """
    starts = forecasts["quarter_start"]
    off = starts[calendar.quarter_start(starts) != starts]
    if len(off):
        raise ValueError(
            f"{len(off)} recorded forecast(s) are for quarters starting on days that are "
            f"not quarter starts of a fiscal year starting in month {calendar.fy_start_month} "
            f"(e.g. {off.iloc[0].date()}): give the fiscal year start month the forecasts "
            "were made with (--fy-start-month)"
        )
    known = pd.Index(partners["partner_id"].astype(str))
    ids = forecasts["key"].astype(str)
    keep = ids.isin(known).to_numpy()
    unknown = sorted(set(ids[~keep]))
    kept = forecasts[keep].assign(partner_id=ids[keep].to_numpy())
    revenue = panel.assign(partner_id=panel["partner_id"].astype(str)).set_index(
        ["partner_id", "quarter_start"]
    )["revenue"]
    position = pd.MultiIndex.from_arrays([kept["partner_id"], kept["quarter_start"]])
    actual = revenue.reindex(position).fillna(0.0).to_numpy(dtype=float)
    attributes = (
        partners.assign(partner_id=partners["partner_id"].astype(str))
        .set_index("partner_id")[list(SEGMENTS)]
        .astype("string")
        .fillna("unknown")
    )
    frame = kept.assign(actual=actual).join(attributes, on="partner_id")
    return Realised(
        frame=frame.reset_index(drop=True),
        unknown_partners=unknown,
        dropped_forecasts=int((~keep).sum()),
    )


def _scores(rows: pd.DataFrame) -> dict[str, float | int]:
    y, p10, p50, p90 = (rows[c].to_numpy(dtype=float) for c in ("actual", "p10", "p50", "p90"))
    return {
        "forecasts": len(rows),
        "partners": rows["partner_id"].nunique(),
        "quarters": rows["quarter_start"].nunique(),
        "actual": float(y.sum()),
        "p50": float(p50.sum()),
        "wape": metrics.wape(y, p50),
        "bias": metrics.bias(y, p50),
        "coverage_80": metrics.coverage(y, p10, p90),
    }


def accuracy_report(
    realised: pd.DataFrame,
    *,
    coverage_floor: float = 0.70,
    min_forecasts: int = MIN_FLAG_FORECASTS,
) -> pd.DataFrame:
    """WAPE, bias and 80% coverage by model, horizon (1..4, ``all``) and segment.

    ``realised`` is :attr:`Realised.frame`. One row per model (name and version),
    horizon and group of each segment (``all``/``all``, then every region, tier and
    partner type), with columns :data:`REPORT_COLUMNS`; ``low_coverage`` marks groups
    with at least ``min_forecasts`` forecasts whose coverage is below ``coverage_floor``.
    """
    rows = []
    for (name, version), model_rows in realised.groupby(["model_name", "model_version"], sort=True):
        horizons = [(str(int(h)), g) for h, g in model_rows.groupby("horizon", sort=True)] + [
            ("all", model_rows)
        ]
        for horizon, by_horizon in horizons:
            cuts = [("all", "all", by_horizon)] + [
                (segment, str(group), g)
                for segment in SEGMENTS
                for group, g in by_horizon.groupby(segment, sort=True)
            ]
            for segment, group, g in cuts:
                rows.append(
                    {
                        "model_name": name,
                        "model_version": version,
                        "horizon": horizon,
                        "segment": segment,
                        "group": group,
                        **_scores(g),
                    }
                )
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS[:-2])
    report["small"] = report["forecasts"] < min_forecasts
    report["low_coverage"] = ~report["small"] & (report["coverage_80"] < coverage_floor)
    return report[REPORT_COLUMNS]


def format_report(report: pd.DataFrame) -> str:
    """The report as a plain-text table for a terminal."""
    shown = report.drop(columns=["small", "low_coverage"]).copy()
    for column in ("actual", "p50"):
        shown[column] = shown[column].map(lambda v: f"{v:,.0f}")
    for column in ("wape", "bias", "coverage_80"):
        shown[column] = shown[column].map(lambda v: "n/a" if np.isnan(v) else f"{v:.4f}")
    shown["flag"] = np.select(
        [report["low_coverage"], report["small"]], ["LOW COVERAGE", "(small)"], ""
    )
    return shown.to_string(index=False)
