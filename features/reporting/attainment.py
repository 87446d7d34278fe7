"""Quota odds: how likely each partner and group is to reach its target in a quarter.

The ``targets`` table (DATA_CONTRACT.md) gives a revenue target per quarter for a partner
or a group (region, tier, partner type, total). For a quarter ``Q`` seen as of a date:

- ``booked_to_date``: bookings of ``Q`` up to the as-of date (0 for a quarter not begun);
- ``quarter_elapsed`` ``e``: the share of ``Q``'s days up to the as-of date (0 to 1);
- the forecast of ``Q``'s revenue ``X`` (P10/P50/P90) as it stood before ``Q`` began (as
  of the day before ``Q``, or as of the as-of date for a later quarter): the champion's
  partner forecast, or its coherent group forecast;
- the quarter's revenue is ``booked_to_date + (1 - e) * X``: what is left of the quarter
  is expected to book at the forecast's run rate, so on day 0 it is the forecast and on
  the last day it is what was booked. Its P10/P50/P90 are those of ``X`` moved the same
  way (a monotone map keeps quantiles);
- ``prob_reach_target``: P(revenue >= target), with the distribution interpolated from
  the three quantiles (:func:`prob_at_least`);
- ``gap_p50 = target - p50`` (positive: the P50 falls short by that much);
- ``remaining_gap = target - booked_to_date`` and ``pipeline_coverage = pipeline_due /
  remaining_gap``, where ``pipeline_due`` is the open pipeline (open at the as-of date)
  expected to close in ``Q`` (deals already overdue count in the quarter that holds the
  as-of date; deals without ``expected_close_on`` are not counted). Coverage is empty
  once the target is reached.

Targets are plans, not facts: they never reach the features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset

ATTAINMENT_COLUMNS: tuple[str, ...] = (
    "quarter_start",
    "target",
    "booked_to_date",
    "quarter_elapsed",
    "p10",
    "p50",
    "p90",
    "gap_p50",
    "prob_reach_target",
    "remaining_gap",
    "pipeline_due",
    "pipeline_coverage",
    "forecast_as_of",
)
MASS = np.array([0.1, 0.4, 0.4, 0.1])  # probability between the knots below
MAX_HORIZON = 4


def quantile_knots(p10: Any, p50: Any, p90: Any) -> np.ndarray:
    """Knots ``lo, p10, p50, p90, hi`` of the distribution interpolated from 3 quantiles.

    The CDF is linear between the quantiles (10 %, 50 %, 90 %) and continues with the
    slope of its neighbouring segment to 0 below ``p10`` and to 1 above ``p90``: ``lo =
    p10 - (p50 - p10) / 4`` and ``hi = p90 + (p90 - p50) / 4``. Shape ``(n, 5)``.
    """
    q10, q50, q90 = (np.asarray(v, dtype=float).reshape(-1) for v in (p10, p50, p90))
    q50 = np.maximum(q50, q10)
    q90 = np.maximum(q90, q50)
    lo = q10 - (q50 - q10) * 0.25
    hi = q90 + (q90 - q50) * 0.25
    return np.stack([lo, q10, q50, q90, hi], axis=1)


def prob_at_least(p10: Any, p50: Any, p90: Any, target: Any) -> np.ndarray:
    """P(X >= target) for X interpolated from its P10/P50/P90 (see :func:`quantile_knots`).

    Each of the four segments holds its probability (10/40/40/10 %) uniformly; a segment
    of zero width is a point mass (so three equal quantiles are a sure value). Missing
    inputs give NaN.
    """
    knots = quantile_knots(p10, p50, p90)
    t = np.asarray(target, dtype=float).reshape(-1)[:, None]
    a, b = knots[:, :-1], knots[:, 1:]
    width = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        above = np.where(width > 0, np.clip((b - t) / width, 0.0, 1.0), (a >= t).astype(float))
    prob = (above * MASS).sum(axis=1)
    missing = np.isnan(knots).any(axis=1) | np.isnan(t[:, 0])
    return np.where(missing, np.nan, np.clip(prob, 0.0, 1.0))


def quarter_window(
    calendar: QuarterCalendar, as_of: pd.Timestamp, quarter_start: pd.Timestamp
) -> tuple[pd.Timestamp, float, pd.Timestamp, int]:
    """(quarter end, elapsed share, forecast as-of date, forecast horizon) of a quarter."""
    end = pd.Timestamp(calendar.quarter_end(quarter_start))
    days = (end - quarter_start).days + 1
    elapsed = min(max((as_of - quarter_start).days + 1, 0), days) / days
    made = min(as_of, quarter_start - pd.Timedelta(days=1))
    horizon = int(calendar.quarter_index(quarter_start) - calendar.quarter_index(made))
    return end, elapsed, made, horizon


def check_quarter(calendar: QuarterCalendar, as_of: pd.Timestamp, quarter_start: Any) -> None:
    """Raise :class:`BadInput` unless ``quarter_start`` starts a quarter within reach."""
    start = pd.Timestamp(quarter_start)
    if pd.Timestamp(calendar.quarter_start(start)) != start:
        raise BadInput(
            f"quarter_start {start.date()} is not the first day of a quarter "
            f"(fiscal year starting in month {calendar.fy_start_month})"
        )
    _, _, _, horizon = quarter_window(calendar, as_of, start)
    if horizon > MAX_HORIZON:
        raise BadInput(
            f"quarter_start {start.date()} is more than {MAX_HORIZON} quarters after the "
            f"as-of date {as_of.date()}: the forecast does not reach it"
        )


def quarter_forecasts(
    ds: Dataset,
    forecaster: Any,
    *,
    as_of: pd.Timestamp,
    quarter_start: pd.Timestamp,
    calendar: QuarterCalendar,
    group_by: str | None,
    seed: int = 42,
) -> pd.DataFrame:
    """``key, p10, p50, p90``: the forecast of ``quarter_start``'s quarter as it stood
    before it began (partners, or the groups of ``group_by`` from the coherent sum)."""
    _, _, made, horizon = quarter_window(calendar, as_of, quarter_start)
    rows = forecaster.scoring_rows(ds, as_of=made, horizon=horizon)
    if group_by is None:
        scores = forecaster.score(rows, num_threads=1)
        scores = scores.rename(columns={"partner_id": "key"})
    else:
        scores = forecaster.aggregate(group_by, horizon, rows=rows, seed=seed, num_threads=1)
        scores = scores.rename(columns={"group": "key"})
    scores = scores[pd.to_datetime(scores["quarter_start"]) == quarter_start]
    out = scores[["key", "p10", "p50", "p90"]].copy()
    out["key"] = out["key"].astype(str)
    return out.reset_index(drop=True)


def partner_groups(ds: Dataset, group_by: str | None) -> pd.Series:
    """Each partner's key at the level (its id, its group, or ``total``)."""
    ids = ds.partners["partner_id"].astype(str)
    if group_by is None:
        values = ids
    elif group_by == "total":
        values = pd.Series("total", index=ids.index)
    else:
        values = ds.partners[group_by].astype("string").fillna("unknown").astype(str)
    return pd.Series(values.to_numpy(), index=ids.to_numpy())


def _booked(ds: Dataset, start: pd.Timestamp, until: pd.Timestamp) -> pd.Series:
    b = ds.bookings
    inside = (b["booked_on"] >= start) & (b["booked_on"] <= until)
    return b.loc[inside].groupby(b["partner_id"].astype(str))["amount"].sum()


def _pipeline_due(
    ds: Dataset, as_of: pd.Timestamp, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Series:
    o = ds.opportunities
    open_then = (o["created_on"] <= as_of) & (o["closed_on"].isna() | (o["closed_on"] > as_of))
    due = o["expected_close_on"] <= end
    if start > as_of:  # a later quarter: only deals expected in it
        due &= o["expected_close_on"] >= start
    picked = o.loc[(open_then & due.fillna(False)).astype(bool)]
    return picked.groupby(picked["partner_id"].astype(str))["amount"].sum()


def targets_at(ds: Dataset, quarter_start: pd.Timestamp, group_by: str | None) -> pd.Series:
    """Targets of the quarter at the level, indexed by key (``total`` for the total)."""
    level = "partner" if group_by is None else group_by
    t = ds.targets
    rows = t[(t["quarter_start"] == quarter_start) & (t["level"] == level)]
    keys = rows["key"].astype("string").fillna("total") if level == "total" else rows["key"]
    return pd.Series(rows["target"].to_numpy(float), index=keys.astype(str).to_numpy())


def build_attainment(
    ds: Dataset,
    *,
    as_of: pd.Timestamp,
    quarter_start: pd.Timestamp,
    calendar: QuarterCalendar,
    group_by: str | None,
    forecasts: pd.DataFrame | None,
) -> pd.DataFrame:
    """One row per partner (``group_by`` None) or group with a target in the quarter:
    ``partner_id`` or ``group``, then :data:`ATTAINMENT_COLUMNS` (see the module docstring).

    ``forecasts``: ``key, p10, p50, p90`` of the quarter (:func:`quarter_forecasts`); None
    or a missing key leaves the forecast columns empty, unless the quarter is over.
    """
    as_of = pd.Timestamp(as_of).normalize()
    start = pd.Timestamp(quarter_start)
    end, elapsed, made, _ = quarter_window(calendar, as_of, start)
    targets = targets_at(ds, start, group_by)
    keys = pd.Index(sorted(targets.index), dtype=object)
    group_of = partner_groups(ds, group_by)

    def by_key(per_partner: pd.Series) -> pd.Series:
        grouped = per_partner.groupby(group_of.reindex(per_partner.index)).sum()
        return grouped.reindex(keys).fillna(0.0)

    booked = by_key(_booked(ds, start, min(as_of, end)) if as_of >= start else pd.Series())
    due = by_key(_pipeline_due(ds, as_of, start, end))
    q = pd.DataFrame(index=keys, columns=["p10", "p50", "p90"], dtype=float)
    if forecasts is not None and len(forecasts):
        q = forecasts.set_index(forecasts["key"].astype(str))[["p10", "p50", "p90"]].reindex(keys)
    if elapsed >= 1.0:
        q = pd.DataFrame(0.0, index=keys, columns=["p10", "p50", "p90"])
    total = q.astype(float).mul(1.0 - elapsed).add(booked, axis=0)
    target = targets.reindex(keys)
    remaining = target - booked
    with np.errstate(divide="ignore", invalid="ignore"):
        coverage = np.where(remaining > 0, due / remaining, np.nan)
    out = pd.DataFrame(
        {
            "partner_id" if group_by is None else "group": keys.astype(str),
            "quarter_start": start,
            "target": target.to_numpy(float),
            "booked_to_date": booked.to_numpy(float),
            "quarter_elapsed": elapsed,
            "p10": total["p10"].to_numpy(float),
            "p50": total["p50"].to_numpy(float),
            "p90": total["p90"].to_numpy(float),
            "gap_p50": (target - total["p50"]).to_numpy(float),
            "prob_reach_target": prob_at_least(total["p10"], total["p50"], total["p90"], target),
            "remaining_gap": remaining.to_numpy(float),
            "pipeline_due": due.to_numpy(float),
            "pipeline_coverage": coverage,
            "forecast_as_of": made,
        }
    )
    if group_by is not None:
        out.insert(0, "group_by", group_by)
    return out


def quota_odds(
    ds: Dataset,
    *,
    as_of: pd.Timestamp,
    quarter_start: pd.Timestamp,
    calendar: QuarterCalendar,
    group_by: str | None = None,
    forecaster: Any | None = None,
    seed: int = 42,
) -> pd.DataFrame:
    """:func:`build_attainment` with the forecaster's forecast of the quarter (the one call
    behind ``POST /forecast/attainment`` and the target columns of the KPIs).

    Raises :class:`BadInput` for a quarter that is not one, or out of the forecast's reach.
    """
    as_of = pd.Timestamp(as_of).normalize()
    start = pd.Timestamp(quarter_start)
    check_quarter(calendar, as_of, start)
    _, elapsed, _, _ = quarter_window(calendar, as_of, start)
    forecasts = None
    if forecaster is not None and elapsed < 1.0 and len(targets_at(ds, start, group_by)):
        forecasts = quarter_forecasts(
            ds,
            forecaster,
            as_of=as_of,
            quarter_start=start,
            calendar=calendar,
            group_by=group_by,
            seed=seed,
        )
    return build_attainment(
        ds,
        as_of=as_of,
        quarter_start=start,
        calendar=calendar,
        group_by=group_by,
        forecasts=forecasts,
    )
