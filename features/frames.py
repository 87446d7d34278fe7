"""Point-in-time feature frames for training, batch scoring and the HTTP API.

Public entry points (plain functions on a :class:`~features.data.dataset.Dataset`):

- :func:`fit_feature_spec` learns vocabularies, categorical levels and the column list;
- :func:`build_features`: one row per partner as of a date;
- :func:`build_forecast_frame`: (partner, quarter-end cutoff, horizon) rows with a target;
- :func:`build_recommender_frame`: (partner, quarter) rows with the incentive and revenue;
- :func:`build_scoring_frame`: (partner, horizon) rows as of a date, no target.

Time. Everything for a row with as-of date t uses only rows dated on or before t, and
opportunities as they stood at t. The quarter containing t is q0; ``revenue_lag_1`` and every
``_1q`` window are q0 counted up to t, ``_4q`` windows are q0 and the three quarters before
it, and so on; ``quarter_elapsed_share`` is the share of q0's days up to t. Training cutoffs
are quarter ends, where q0 is complete; scoring at a date inside a quarter sees a partial q0
and says so through ``quarter_elapsed_share``. Horizon h is the h-th quarter starting after t
(``quarter_start`` of the row). Frames for many cutoffs are computed in one vectorised pass
(see ``features.families.windows``), with the same code a single as-of date uses, so training and
serving features agree by construction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset, incentive_grants, is_holdout
from features.families import (
    build_engagement,
    build_incentive_history,
    build_pipeline_signals,
    sales_ops_estimate,
)
from features.families.panel import quarter_revenue, sorted_partner_ids
from features.families.partner_attributes import build_partner_attributes, fit_partner_attributes
from features.families.revenue_history import N_LAGS, build_revenue_history
from features.families.seasonal_index import seasonal_indexes, target_quarter_index
from features.families.target_quarter import TARGET_QUARTER_FEATURES, target_quarter_signals
from features.families.vocabulary import learn_vocabulary
from features.families.windows import CutoffGrid, to_days
from features.spec import FeatureSpec

log = logging.getLogger(__name__)

FEATURE_DTYPE = np.float32  # LightGBM bins float32 anyway; halves the memory of wide frames
KEYS = ("partner_id", "as_of")
NO_INCENTIVE = "none"


@dataclass(frozen=True)
class PooledSums:
    """The cross-partner sums of all partners, for frames built on a partition of them
    (``features.distributed``): ``win_totals`` (segment win rates,
    ``features.families.pipeline_signals.segment_win_totals``) and ``seasonal`` (the regional
    seasonal index, ``features.families.seasonal_index.seasonal_sums``). None: the frame's own
    partners are all the partners (the single-process path)."""

    win_totals: pd.DataFrame | None = None
    seasonal: pd.DataFrame | None = None


NOT_POOLED = PooledSums()


def _day(value: pd.Timestamp | str | np.datetime64) -> np.datetime64:
    return np.datetime64(pd.Timestamp(value).normalize().date(), "D")


def fit_feature_spec(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | str,
    calendar: QuarterCalendar,
    win_rate_prior_strength: float = 10.0,
    max_category_levels: int = 100,
) -> FeatureSpec:
    """Learn the spec from data dated on or before ``as_of`` (the end of training data)."""
    t = _day(as_of)
    acts = ds.activities
    seen = to_days(acts["occurred_on"]) <= t
    money = seen & (acts["amount"] > 0).to_numpy()
    incs = incentive_grants(ds.incentives)  # a `none` holdout row is no incentive type
    partners = ds.partners.loc[to_days(ds.partners["joined_on"]) <= t]
    levels, numeric = fit_partner_attributes(partners, max_levels=max_category_levels)
    spec = FeatureSpec(
        fy_start_month=calendar.fy_start_month,
        fitted_as_of=str(t),
        activity_types=learn_vocabulary(acts["activity"][seen]),
        activity_amount_types=learn_vocabulary(acts["activity"][money]),
        incentive_types=learn_vocabulary(incs["incentive"][to_days(incs["starts_on"]) <= t]),
        categorical_levels=levels,
        numeric_partner_columns=numeric,
        win_rate_prior_strength=win_rate_prior_strength,
        max_category_levels=max_category_levels,
    )
    empty = CutoffGrid.build(calendar, sorted_partner_ids(ds), np.empty(0), np.empty(0))
    columns = tuple(_partner_features(ds, empty, spec).columns)
    spec = FeatureSpec(**{**spec.__dict__, "partner_feature_columns": columns})
    log.info("fitted feature spec: %d feature columns", len(spec.feature_columns))
    return spec


def _partner_features(
    ds: Dataset, grid: CutoffGrid, spec: FeatureSpec, pooled: PooledSums = NOT_POOLED
) -> pd.DataFrame:
    """Every per-partner feature family for the grid rows, unordered."""
    cal = grid.calendar
    q_start = cal.start_days(grid.q0)
    q_days = (cal.end_days(grid.q0) - q_start).astype(np.int64) + 1
    calendar_cols = pd.DataFrame(
        {
            "asof_fiscal_quarter": ((grid.q0 % 4) + 4) % 4 + 1,
            "quarter_elapsed_share": ((grid.as_of - q_start).astype(np.int64) + 1) / q_days,
        }
    )
    parts = [
        build_partner_attributes(
            ds,
            grid,
            categorical_levels=dict(spec.categorical_levels),
            numeric_columns=spec.numeric_partner_columns,
        ),
        calendar_cols,
        build_revenue_history(ds, grid),
        build_pipeline_signals(
            ds,
            grid,
            win_rate_prior_strength=spec.win_rate_prior_strength,
            win_totals=pooled.win_totals,
        ),
        build_engagement(
            ds,
            grid,
            activity_types=spec.activity_types,
            amount_types=spec.activity_amount_types,
        ),
        build_incentive_history(ds, grid, incentive_types=spec.incentive_types),
    ]
    return pd.concat([p.reset_index(drop=True) for p in parts], axis=1)


def _conform(features: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Exactly ``columns`` in order: missing ones 0, numbers as FEATURE_DTYPE."""
    out = {}
    for col in columns:
        if col not in features.columns:
            out[col] = np.zeros(len(features), dtype=FEATURE_DTYPE)
        elif isinstance(features[col].dtype, pd.CategoricalDtype):
            out[col] = features[col]
        else:
            out[col] = features[col].to_numpy(dtype=FEATURE_DTYPE)
    return pd.DataFrame(out, index=features.index)


def _grid_for(
    ds: Dataset, calendar: QuarterCalendar, cutoffs: np.ndarray
) -> tuple[CutoffGrid, np.ndarray]:
    """Rows (partner, cutoff) for partners joined on or before each cutoff."""
    ids = sorted_partner_ids(ds)
    joined = to_days(ds.partners.set_index("partner_id")["joined_on"].reindex(ids))
    code = np.repeat(np.arange(len(ids)), len(cutoffs))
    as_of = np.tile(cutoffs, len(ids))
    keep = joined[code] <= as_of
    return CutoffGrid.build(calendar, ids, code[keep], as_of[keep]), joined


def _grid_frame(
    ds: Dataset, grid: CutoffGrid, spec: FeatureSpec, pooled: PooledSums = NOT_POOLED
) -> pd.DataFrame:
    """Keys plus the spec's per-partner features for the grid rows."""
    features = _conform(_partner_features(ds, grid, spec, pooled), spec.partner_feature_columns)
    keys = pd.DataFrame(
        {
            "partner_id": pd.array(grid.partner_ids.to_numpy()[grid.code], dtype="string"),
            "as_of": grid.as_of.astype("datetime64[ns]"),
        }
    )
    return pd.concat([keys, features], axis=1)


def partner_grid(ds: Dataset, calendar: QuarterCalendar, cutoffs: np.ndarray) -> CutoffGrid:
    """Rows (partner, cutoff) for partners joined on or before each cutoff."""
    return _grid_for(ds, calendar, np.asarray(cutoffs, dtype="datetime64[D]"))[0]


def partner_frame(
    ds: Dataset,
    *,
    spec: FeatureSpec,
    cutoffs: np.ndarray,
    pooled: PooledSums = NOT_POOLED,
) -> pd.DataFrame:
    """Keys and the spec's partner features for (partner, cutoff) rows, partners joined on or
    before each cutoff: what the forecast and scoring frames start from (``partner_rows``)."""
    return _grid_frame(ds, partner_grid(ds, spec.calendar, cutoffs), spec, pooled)


def build_features(ds: Dataset, *, as_of: pd.Timestamp | str, spec: FeatureSpec) -> pd.DataFrame:
    """One row per partner joined on or before ``as_of``: keys and the spec's partner features."""
    grid, _ = _grid_for(ds, spec.calendar, np.array([_day(as_of)]))
    return _grid_frame(ds, grid, spec)


def last_complete_quarter(calendar: QuarterCalendar, data_end: np.datetime64) -> int:
    """Index of the last quarter fully observed when the data ends at ``data_end``."""
    q = int(calendar.quarter_index_days(data_end))
    return q if calendar.end_days(q) == data_end else q - 1


def first_booking_day(ds: Dataset) -> np.datetime64 | None:
    """The first booking's day, None without bookings."""
    dates = to_days(ds.bookings["booked_on"])
    dates = dates[~np.isnat(dates)]
    return dates.min() if len(dates) else None


def training_cutoffs(
    calendar: QuarterCalendar, first_day: np.datetime64, last_q: int
) -> np.ndarray:
    """Quarter ends from the quarter of ``first_day`` to the one before ``last_q``."""
    first_q = int(calendar.quarter_index_days(first_day))
    return calendar.end_days(np.arange(first_q, last_q))


def _training_cutoffs(ds: Dataset, calendar: QuarterCalendar, last_q: int) -> np.ndarray:
    """Quarter ends from the first quarter with bookings to the one before ``last_q``."""
    first = first_booking_day(ds)
    if first is None:
        first = to_days(ds.partners["joined_on"]).min()
    return training_cutoffs(calendar, first, last_q)


def _with_horizons(
    ds: Dataset,
    grid: CutoffGrid,
    frame: pd.DataFrame,
    spec: FeatureSpec,
    horizons: int,
    last_q: int | None = None,
    pooled: PooledSums = NOT_POOLED,
) -> pd.DataFrame:
    """Each grid row once per horizon 1..H with the per-horizon features.

    With ``last_q``, rows whose target quarter is after it are left out and ``target`` (the
    target quarter's revenue) is added. Rows are taken once, column by column, so the wide
    frame is copied as little as possible.
    """
    if horizons < 1:
        raise ValueError(f"horizons must be at least 1, got {horizons}")
    row = np.repeat(np.arange(len(grid)), horizons)
    h = np.tile(np.arange(1, horizons + 1), len(grid))
    target_q = grid.q0[row] + h
    if last_q is not None:
        keep = target_q <= last_q
        row, h, target_q = row[keep], h[keep], target_q[keep]
    # revenue of the target quarter one year earlier: lag (5 - h), known only when h <= 4
    last_year = np.full(len(row), np.nan, dtype=FEATURE_DTYPE)
    for lag in range(1, N_LAGS + 1):
        pick = (5 - h) == lag
        last_year[pick] = frame[f"revenue_lag_{lag}"].to_numpy()[row[pick]]
    plan = sales_ops_estimate(frame, h, rows=row)
    season = target_quarter_index(seasonal_indexes(frame, pooled.seasonal), h, row)
    per_horizon = {
        "horizon": h.astype(np.int64),
        "target_fiscal_quarter": (target_q % 4 + 1).astype(FEATURE_DTYPE),
        "revenue_target_q_last_year": last_year,
        **{name: values.astype(FEATURE_DTYPE) for name, values in plan.items()},
        "seasonal_index_target_q": season.astype(FEATURE_DTYPE),
        "seasonal_plan": (plan["sales_ops_estimate"] * season).astype(FEATURE_DTYPE),
    }
    if set(TARGET_QUARTER_FEATURES) & set(spec.horizon_feature_columns):  # not in old specs
        aligned = target_quarter_signals(
            frame,
            h,
            plan=plan["sales_ops_estimate"],
            run_rate=plan["run_rate_non_deal"],
            last_year=last_year,
            deals=plan["expected_deal_revenue"],
            rows=row,
        )
        per_horizon.update({name: v.astype(FEATURE_DTYPE) for name, v in aligned.items()})
        # the trended plan with the target quarter's season (a start for short histories)
        per_horizon["seasonal_trend_plan"] = (aligned["trend_run_rate_plan"] * season).astype(
            FEATURE_DTYPE
        )
    keys = pd.DataFrame(
        {
            "partner_id": frame["partner_id"].array.take(row),
            "as_of": frame["as_of"].to_numpy()[row],
            "horizon": per_horizon["horizon"],
            "quarter_start": grid.calendar.start_days(target_q).astype("datetime64[ns]"),
        }
    )
    categorical = [c for c in spec.partner_feature_columns if frame[c].dtype == "category"]
    numeric = [c for c in spec.partner_feature_columns if c not in set(categorical)]
    # one 2-D take for all numeric features: a single allocation for the widest part
    block = frame[numeric].to_numpy(dtype=FEATURE_DTYPE)[row]
    tail = {c: per_horizon[c] for c in spec.horizon_feature_columns if c != "horizon"}
    if last_q is not None:
        target = np.zeros(len(row))
        if len(row):
            q_lo = int(target_q.min())
            revenue = quarter_revenue(ds, grid.partner_ids, grid.calendar, q_lo, last_q)
            target = revenue[grid.code[row], target_q - q_lo]
        tail["target"] = target
    parts = [
        keys,
        pd.DataFrame({c: frame[c].array.take(row) for c in categorical}, index=keys.index),
        pd.DataFrame(block, columns=numeric, index=keys.index, copy=False),
        pd.DataFrame(tail, index=keys.index),
    ]
    result = pd.concat(parts, axis=1)
    order = [*keys.columns, *spec.partner_feature_columns, *tail]
    return result if list(result.columns) == order else result[order]


def _data_end(ds: Dataset, data_end: pd.Timestamp | str | None) -> np.datetime64:
    return _day(ds.last_date if data_end is None else data_end)


def build_forecast_frame(
    ds: Dataset,
    *,
    spec: FeatureSpec,
    cutoffs: Iterable[pd.Timestamp | str] | None = None,
    horizons: int = 4,
    data_end: pd.Timestamp | str | None = None,
    pooled: PooledSums = NOT_POOLED,
    partner_rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Training rows (partner, cutoff, horizon) with features as of the cutoff and ``target``.

    ``cutoffs`` default to every quarter end from the first quarter with bookings to the one
    before the last complete quarter; ``data_end`` (default: the dataset's last date) decides
    which quarters are complete. Rows whose target quarter is not complete are dropped.
    ``pooled`` and ``partner_rows`` (:func:`partner_frame` of the same cutoffs) come from
    ``features.distributed`` when ``ds`` holds a partition of the partners.
    """
    cal = spec.calendar
    last_q = last_complete_quarter(cal, _data_end(ds, data_end))
    if cutoffs is None:
        cut = _training_cutoffs(ds, cal, last_q)
    else:
        cut = np.unique(np.array([_day(c) for c in cutoffs], dtype="datetime64[D]"))
    grid, _ = _grid_for(ds, cal, cut)
    frame = _grid_frame(ds, grid, spec, pooled) if partner_rows is None else partner_rows
    frame = _with_horizons(ds, grid, frame, spec, horizons, last_q, pooled)
    log.info("forecast frame: %d rows, %d cutoffs", len(frame), len(cut))
    return frame


def build_scoring_frame(
    ds: Dataset,
    *,
    as_of: pd.Timestamp | str,
    spec: FeatureSpec,
    horizon: int = 4,
    pooled: PooledSums = NOT_POOLED,
    partner_rows: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Rows (partner, horizon 1..H) for partners joined by ``as_of``; no ``target`` column.
    ``pooled`` and ``partner_rows``: as in :func:`build_forecast_frame`."""
    grid, _ = _grid_for(ds, spec.calendar, np.array([_day(as_of)]))
    frame = _grid_frame(ds, grid, spec, pooled) if partner_rows is None else partner_rows
    return _with_horizons(ds, grid, frame, spec, horizon, pooled=pooled)


def build_recommender_frame(
    ds: Dataset,
    *,
    spec: FeatureSpec,
    data_end: pd.Timestamp | str | None = None,
    cutoffs: np.ndarray | None = None,
    pooled: PooledSums = NOT_POOLED,
) -> pd.DataFrame:
    """Rows (partner, quarter): features as of the previous quarter's end, the incentive
    started in the quarter (highest cost if several, ``none`` if none), ``n_incentives``,
    its ``cost`` and ``randomized`` flag, and the quarter's ``revenue``.

    Quarters run from the second quarter with bookings to the last complete one; partners
    appear from the quarter after the one they joined in (they need a cutoff to be featured).
    ``cutoffs`` and ``pooled`` are those of all partners when ``ds`` holds only some of them.
    """
    cal = spec.calendar
    last_q = last_complete_quarter(cal, _data_end(ds, data_end))
    if cutoffs is None:
        cutoffs = _training_cutoffs(ds, cal, last_q)
    grid, _ = _grid_for(ds, cal, cutoffs)
    frame = _grid_frame(ds, grid, spec, pooled)
    quarter = grid.q0 + 1
    frame.insert(2, "quarter_start", cal.start_days(quarter).astype("datetime64[ns]"))

    # a randomized `none` row (the control arm of a holdout test) is an observed untreated
    # decision: incentive none, randomized, cost 0, no incentive counted; a grant in the
    # same quarter wins over it
    inc = ds.incentives
    holdout = is_holdout(inc).to_numpy()
    chosen = pd.DataFrame(
        {
            "code": grid.partner_ids.get_indexer(pd.Index(inc["partner_id"])),
            "quarter": cal.quarter_index_days(to_days(inc["starts_on"])),
            "incentive": inc["incentive"].astype("string").mask(holdout, NO_INCENTIVE),
            "cost": inc["cost"].to_numpy(dtype=np.float64),
            "randomized": inc["randomized"].to_numpy(dtype=bool),
            "holdout": holdout,
        }
    )
    chosen = chosen.loc[chosen["code"] >= 0].sort_values(
        ["code", "quarter", "holdout", "cost", "incentive"],
        ascending=[True, True, True, False, True],
    )
    counts = (~chosen["holdout"]).groupby([chosen["code"], chosen["quarter"]]).sum()
    counts = counts.rename("n_incentives")
    chosen = chosen.drop_duplicates(["code", "quarter"]).set_index(["code", "quarter"])
    chosen = chosen.join(counts)
    index = pd.MultiIndex.from_arrays([grid.code, quarter])
    picked = chosen.reindex(index)
    frame["incentive"] = picked["incentive"].fillna(NO_INCENTIVE).astype("string").to_numpy()
    frame["n_incentives"] = picked["n_incentives"].fillna(0).to_numpy(dtype=np.int64)
    frame["cost"] = picked["cost"].fillna(0.0).to_numpy(dtype=np.float64)
    frame["randomized"] = picked["randomized"].fillna(False).to_numpy(dtype=bool)
    revenue = np.zeros(len(frame))
    if len(frame):
        q_lo = int(quarter.min())
        revenue = quarter_revenue(ds, grid.partner_ids, cal, q_lo, last_q)[
            grid.code, quarter - q_lo
        ]
    frame["revenue"] = revenue
    return frame
