"""Channel KPIs per partner and per group, as of any date, from the point-in-time windows.

The sums come from the same code as the features (``features.families.windows``), so a KPI and a
feature as of the same date can never disagree: revenue is the sum of ``bookings.amount``
(credit notes included), pipeline is opportunities as they stood at the as-of date.

Definitions (``q0`` is the quarter that contains ``as_of``; fiscal years follow the
calendar's first month):

- ``open_pipeline``: amount of opportunities created on or before ``as_of`` and not
  closed by then (``open_opportunities`` counts them).
- ``pipeline_created_qtd`` / ``_ytd``: amount of opportunities created from the start
  of q0 / of the fiscal year through ``as_of``.
- ``revenue_qtd`` / ``_ytd``: bookings from the start of q0 / of the fiscal year through
  ``as_of``; ``revenue_ytd_prior`` is the same window one year earlier and
  ``growth_ytd = revenue_ytd - revenue_ytd_prior``.
- ``forecast_p50_quarter``: the champion's P50 for q0 as it stood at q0's start (given by
  the caller, see ``features.reporting.kpi_sources``); ``attainment_vs_forecast = revenue_qtd /
  forecast_p50_quarter`` (missing when there is no positive forecast), next to
  ``quarter_elapsed``, the share of q0's days up to ``as_of``.
- ``leaderboard_rank``: 1 = highest ``revenue_ytd``; ties broken by higher
  ``growth_ytd``, then by partner id (or group name), so ranks are 1..n without gaps.
- ``mdf_spend_4q``: cost of MDF incentives (``incentives.incentive`` equal to the MDF
  name, any case) starting in q0 (up to ``as_of``) and the three quarters before it, the
  same trailing window as the features' ``*_4q`` columns.
- ``mdf_roi``: the recommender's estimated incremental revenue per MDF dollar (its
  uplift of MDF over ``none`` divided by MDF's cost; given by the caller). Next to it,
  ``mdf_revenue_per_dollar_naive`` = revenue over the same four quarters / MDF spend:
  what a spreadsheet shows, and not a return, since it credits MDF with every sale.

Partners enter once they have joined (``joined_on <= as_of``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.families import open_pipeline
from features.families.panel import revenue_events, sorted_partner_ids
from features.families.windows import CutoffGrid, make_events, safe_div, to_days, window_sums

KPI_COLUMNS: tuple[str, ...] = (
    "open_pipeline",
    "pipeline_created_qtd",
    "pipeline_created_ytd",
    "revenue_qtd",
    "revenue_ytd",
    "forecast_p50_quarter",
    "attainment_vs_forecast",
    "leaderboard_rank",
    "mdf_spend_4q",
    "mdf_roi",
)
GROUP_LEVELS: tuple[str, ...] = ("region", "tier", "partner_type")
ATTRIBUTES: tuple[str, ...] = ("name", *GROUP_LEVELS)
ADDITIVE: tuple[str, ...] = (
    "open_opportunities",
    "open_pipeline",
    "pipeline_created_qtd",
    "pipeline_created_ytd",
    "revenue_qtd",
    "revenue_ytd",
    "revenue_ytd_prior",
    "growth_ytd",
    "revenue_4q",
    "mdf_spend_4q",
)


def _ytd(sums: np.ndarray, quarters_in: int) -> np.ndarray:
    """Sum of window columns 0..quarters_in-1 (q0 to date plus earlier fiscal quarters)."""
    return sums[:, :quarters_in].sum(axis=1)


def leaderboard(revenue_ytd: np.ndarray, growth: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Ranks 1..n: highest revenue first, ties by higher growth, then by name."""
    order = np.lexsort((np.asarray(names, dtype=str), -np.asarray(growth), -revenue_ytd))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def build_partner_kpis(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | str,
    calendar: QuarterCalendar,
    mdf_incentive: str = "mdf",
    forecast_p50: pd.Series | None = None,
    mdf_roi: pd.Series | None = None,
) -> pd.DataFrame:
    """One row per partner joined by ``as_of``, in partner_id order (see module docstring).

    ``forecast_p50`` and ``mdf_roi`` are indexed by partner_id; partners missing from
    them get missing values.
    """
    as_of = pd.Timestamp(as_of).normalize()
    prior = as_of - pd.DateOffset(years=1)
    ids = sorted_partner_ids(ds)
    joined = to_days(ds.partners.set_index("partner_id")["joined_on"].reindex(ids))
    present = np.flatnonzero(joined <= to_days(np.array([as_of]))[0])
    n = len(present)
    days = to_days(np.array([as_of, prior]))
    grid = CutoffGrid.build(
        calendar, ids, np.repeat(present, 2), np.tile(days, n)
    )  # rows: partner code, then as_of (prior < as_of): prior rows even, current rows odd
    now, before = slice(1, None, 2), slice(0, None, 2)
    fiscal_q = calendar.fiscal_quarter(as_of)

    revenue = window_sums(grid, revenue_events(ds, ids), 4)["revenue"]
    opps = ds.opportunities
    created = window_sums(
        grid,
        make_events(ids, opps, "created_on", {"amount": opps["amount"].to_numpy(dtype=np.float64)}),
        4,
    )["amount"]
    pipeline = open_pipeline(ds, grid)
    inc = ds.incentives
    is_mdf = inc["incentive"].astype("string").str.lower().eq(mdf_incentive.lower())
    mdf_cost = np.where(is_mdf.fillna(False).to_numpy(dtype=bool), inc["cost"].to_numpy(float), 0)
    mdf = window_sums(grid, make_events(ids, inc, "starts_on", {"cost": mdf_cost}), 4)["cost"]

    partner_ids = ids[grid.code[now]]
    frame = pd.DataFrame({"partner_id": pd.array(partner_ids.to_numpy(), dtype="string")})
    attrs = ds.partners.set_index("partner_id").reindex(partner_ids)
    for column in ATTRIBUTES:
        if column in attrs.columns:
            frame[column] = attrs[column].to_numpy()
    frame["joined_on"] = attrs["joined_on"].to_numpy()
    frame["as_of"] = as_of
    frame["quarter_start"] = calendar.quarter_start(as_of)
    frame["fiscal_year_start"] = calendar.fiscal_year_start(as_of)
    quarter_days = (calendar.quarter_end(as_of) - calendar.quarter_start(as_of)).days + 1
    frame["quarter_elapsed"] = ((as_of - calendar.quarter_start(as_of)).days + 1) / quarter_days
    frame["open_opportunities"] = pipeline["open_count"][now]
    frame["open_pipeline"] = pipeline["open_amount"][now]
    frame["pipeline_created_qtd"] = created[now, 0]
    frame["pipeline_created_ytd"] = _ytd(created[now], fiscal_q)
    frame["revenue_qtd"] = revenue[now, 0]
    frame["revenue_ytd"] = _ytd(revenue[now], fiscal_q)
    frame["revenue_ytd_prior"] = _ytd(revenue[before], fiscal_q)
    frame["growth_ytd"] = frame["revenue_ytd"] - frame["revenue_ytd_prior"]
    frame["revenue_4q"] = revenue[now].sum(axis=1)
    frame["mdf_spend_4q"] = mdf[now].sum(axis=1)
    frame["mdf_revenue_per_dollar_naive"] = safe_div(frame["revenue_4q"], frame["mdf_spend_4q"])
    frame["mdf_roi"] = _aligned(mdf_roi, partner_ids)
    frame["forecast_p50_quarter"] = _aligned(forecast_p50, partner_ids)
    frame["attainment_vs_forecast"] = _attainment(frame)
    frame["leaderboard_rank"] = leaderboard(
        frame["revenue_ytd"].to_numpy(), frame["growth_ytd"].to_numpy(), frame["partner_id"]
    )
    return frame


def _aligned(values: pd.Series | None, partner_ids: pd.Index) -> np.ndarray:
    if values is None:
        return np.full(len(partner_ids), np.nan)
    keyed = pd.Series(values.to_numpy(dtype=float), index=values.index.astype(str))
    return keyed.reindex(partner_ids.astype(str)).to_numpy(dtype=float)


def _attainment(frame: pd.DataFrame) -> np.ndarray:
    forecast = frame["forecast_p50_quarter"].to_numpy(dtype=float)
    return safe_div(frame["revenue_qtd"], np.where(forecast > 0, forecast, np.nan))


def group_kpis(
    partner_kpis: pd.DataFrame,
    group_by: str,
    *,
    group_forecast_p50: pd.Series | None = None,
) -> pd.DataFrame:
    """The partner KPIs summed by region, tier or partner type (missing: ``unknown``).

    Money and counts add up. ``forecast_p50_quarter`` is ``group_forecast_p50`` (the
    forecaster's coherent group forecast, indexed by group) when given, else the sum of
    the partners' P50s. ``mdf_roi`` is the MDF-spend-weighted mean of the partners'
    estimates (the estimated incremental revenue of the MDF actually spent, per dollar);
    with no spend in the group, the mean over all its partners weighted alike.
    """
    if group_by not in GROUP_LEVELS:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_LEVELS)}, got {group_by!r}")
    frame = partner_kpis.copy()
    frame["group"] = (
        frame[group_by].astype("string").fillna("unknown")
        if group_by in frame
        else pd.Series("unknown", index=frame.index, dtype="string")
    )
    frame["_roi_x_spend"] = frame["mdf_roi"] * frame["mdf_spend_4q"]
    grouped = frame.groupby("group", sort=True, observed=True)
    out = grouped[list(ADDITIVE)].sum()
    out.insert(0, "partners", grouped.size())
    out["forecast_p50_quarter"] = grouped["forecast_p50_quarter"].sum(min_count=1)
    if group_forecast_p50 is not None:
        keyed = pd.Series(group_forecast_p50.to_numpy(float), index=group_forecast_p50.index)
        out["forecast_p50_quarter"] = keyed.reindex(out.index.astype(str)).to_numpy()
    spent = grouped["_roi_x_spend"].sum(min_count=1)
    weighted = safe_div(spent, out["mdf_spend_4q"])
    out["mdf_roi"] = np.where(out["mdf_spend_4q"] > 0, weighted, grouped["mdf_roi"].mean())
    out["mdf_revenue_per_dollar_naive"] = safe_div(out["revenue_4q"], out["mdf_spend_4q"])
    out = out.reset_index()
    for column in ("as_of", "quarter_start", "fiscal_year_start", "quarter_elapsed"):
        out[column] = frame[column].iloc[0] if len(frame) else pd.NaT
    out["attainment_vs_forecast"] = _attainment(out)
    out["leaderboard_rank"] = leaderboard(
        out["revenue_ytd"].to_numpy(), out["growth_ytd"].to_numpy(), out["group"].astype(str)
    )
    out.insert(0, "group_by", group_by)
    return out
