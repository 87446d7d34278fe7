"""Pipeline features: opportunities as they stood at each row's as_of.

Point in time (DATA_CONTRACT.md): an opportunity exists at t when ``created_on <= t`` and is
open at t when ``closed_on`` is empty or later than t. An opportunity that closed after t is
therefore open at t, and its ``status`` and ``closed_on`` are never read for that row: open
snapshots only use created_on, the fact that closed_on > t, amount, expected_close_on and
registered (the contract keeps one value of those, taken as known since creation).
``open_amount_close_q{k}`` is the open amount expected to close k quarters after the as-of
quarter (k = 2..4), so each horizon can see the pipeline due in its own target quarter. Won and
lost counts are dated by ``closed_on``, so a close after t cannot reach a row at t.

Win rates are shrunk with empirical Bayes: a partner's trailing win rate over 8 quarters is
``(won + m * segment_rate) / (closed + m)``, where the segment is partner_type x tier, the
segment rate is itself shrunk the same way towards the rate of all partners at that as_of,
and m is ``FeatureSpec.win_rate_prior_strength``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.data import Dataset
from features.families.windows import (
    CutoffGrid,
    events_in_window,
    explode_ranges,
    make_events,
    partner_codes,
    safe_div,
    to_days,
    window_sums,
)

AGE_BUCKETS = ((0, 90, "0_90d"), (91, 180, "91_180d"), (181, None, "181d_plus"))
WIN_RATE_QUARTERS = 8
CLOSE_QUARTERS_AHEAD = (2, 3, 4)  # quarter 1 ahead is ``open_amount_close_next_q``


def _open_snapshot(ds: Dataset, grid: CutoffGrid) -> dict[str, np.ndarray]:
    """Open-pipeline sums per grid row (count, amounts by age, expected close, registration)."""
    opps = ds.opportunities
    n = len(grid)
    code = partner_codes(grid.partner_ids, opps["partner_id"])
    created, closed = to_days(opps["created_on"]), to_days(opps["closed_on"])
    values = grid.as_of_values
    lo = np.searchsorted(values, created, side="left")  # first as_of on/after creation
    hi = np.where(np.isnat(closed), len(values), np.searchsorted(values, closed, side="left"))
    valid = (code >= 0) & ~np.isnat(created)
    item, pos = explode_ranges(np.where(valid, lo, 0), np.where(valid, hi, 0))
    rows = grid.row_lookup(code[item], pos) if len(item) else item
    item, pos, rows = item[rows >= 0], pos[rows >= 0], rows[rows >= 0]

    as_of = values[pos]
    amount = opps["amount"].to_numpy(dtype=np.float64)[item]
    age = (as_of - created[item]).astype(np.int64)
    expected = to_days(opps["expected_close_on"])[item]
    next_end = grid.calendar.end_days(grid.calendar.quarter_index_days(as_of) + 1)
    registered = opps["registered"].to_numpy(dtype=bool)[item]

    def total(weights: np.ndarray) -> np.ndarray:
        return np.bincount(rows, weights=weights, minlength=n).astype(np.float64)

    out = {"open_count": total(np.ones(len(rows))), "open_amount": total(amount)}
    for low, high, label in AGE_BUCKETS:
        in_bucket = (age >= low) & ((age <= high) if high is not None else True)
        out[f"open_amount_age_{label}"] = total(amount * in_bucket)
    unknown = np.isnat(expected)
    out["open_amount_close_next_q"] = total(amount * (~unknown & (expected <= next_end)))
    out["open_amount_close_later"] = total(amount * (~unknown & (expected > next_end)))
    out["open_amount_close_unknown"] = total(amount * unknown)
    out["open_amount_overdue"] = total(amount * (~unknown & (expected < as_of)))
    # the pipeline expected to close in each later quarter, for the horizon it lands in
    # (long sales cycles carry revenue two to four quarters ahead)
    ahead = np.where(
        unknown,
        0,
        grid.calendar.quarter_index_days(np.where(unknown, as_of, expected))
        - grid.calendar.quarter_index_days(as_of),
    )
    for k in CLOSE_QUARTERS_AHEAD:
        out[f"open_amount_close_q{k}"] = total(amount * (~unknown & (ahead == k)))
    out["open_registered_share"] = safe_div(total(amount * registered), out["open_amount"])
    return out


def open_pipeline(ds: Dataset, grid: CutoffGrid) -> dict[str, np.ndarray]:
    """``open_count`` and ``open_amount`` per grid row: the pipeline as it stood at as_of."""
    snapshot = _open_snapshot(ds, grid)
    return {"open_count": snapshot["open_count"], "open_amount": snapshot["open_amount"]}


def _segments(ds: Dataset, grid: CutoffGrid) -> pd.Series:
    """Each partner's segment (partner_type x tier), in ``grid.partner_ids`` order."""
    partners = ds.partners.set_index("partner_id").reindex(grid.partner_ids)
    return (
        partners["partner_type"].astype("string").fillna("unknown")
        + "|"
        + partners["tier"].astype("string").fillna("unknown")
    )


def _won_lost(opps: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Which opportunities are won and which lost (status, any case)."""
    status = opps["status"].astype("string").str.lower()
    return (
        status.eq("won").fillna(False).to_numpy(dtype=bool),
        status.eq("lost").fillna(False).to_numpy(dtype=bool),
    )


def win_counts(ds: Dataset, grid: CutoffGrid) -> tuple[np.ndarray, np.ndarray]:
    """(won, closed) opportunities over the trailing :data:`WIN_RATE_QUARTERS` per grid row."""
    opps = ds.opportunities
    won_flag, lost_flag = _won_lost(opps)
    closes = make_events(grid.partner_ids, opps, "closed_on", {"won": won_flag, "lost": lost_flag})
    sums = window_sums(grid, closes, WIN_RATE_QUARTERS)
    won = sums["won"].sum(axis=1)
    return won, won + sums["lost"].sum(axis=1)


def segment_win_totals(ds: Dataset, grid: CutoffGrid) -> pd.DataFrame:
    """Won and closed opportunities (trailing 8 quarters) summed per (segment, as_of) over the
    grid's partners: added up over partitions of partners they are the segment prior of all
    partners (``features.distributed``)."""
    won, closed = win_counts(ds, grid)
    frame = pd.DataFrame(
        {
            "segment": _segments(ds, grid).to_numpy()[grid.code],
            "as_of": grid.as_of.astype("datetime64[ns]"),
            "won": won,
            "closed": closed,
        }
    )
    return frame.groupby(["segment", "as_of"], sort=True)[["won", "closed"]].sum()


def _shrunk_win_rates(
    ds: Dataset,
    grid: CutoffGrid,
    won: np.ndarray,
    closed: np.ndarray,
    strength: float,
    totals: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(segment rate, partner rate shrunk towards it) per grid row; ``totals``
    (:func:`segment_win_totals` of all partners) when the grid holds only some of them."""
    segment = _segments(ds, grid)
    if totals is not None:
        keys = pd.MultiIndex.from_arrays(
            [segment.to_numpy()[grid.code], grid.as_of.astype("datetime64[ns]")]
        )
        seg = totals.reindex(keys)
        seg_won, seg_closed = seg["won"].to_numpy(), seg["closed"].to_numpy()
        every = totals.groupby(level="as_of").sum().reindex(keys.get_level_values(1))
        all_won, all_closed = every["won"].to_numpy(), every["closed"].to_numpy()
    else:
        seg_code = pd.factorize(segment)[0].astype(np.int64)[grid.code]
        n_seg, n_pos = int(seg_code.max(initial=-1)) + 1, len(grid.as_of_values)
        key = seg_code * n_pos + grid.as_of_pos
        seg_won = np.bincount(key, weights=won, minlength=n_seg * n_pos)[key]
        seg_closed = np.bincount(key, weights=closed, minlength=n_seg * n_pos)[key]
        all_won = np.bincount(grid.as_of_pos, weights=won, minlength=n_pos)[grid.as_of_pos]
        all_closed = np.bincount(grid.as_of_pos, weights=closed, minlength=n_pos)[grid.as_of_pos]
    overall = safe_div(all_won, all_closed)
    seg_rate = safe_div(seg_won + strength * overall, seg_closed + strength)
    return seg_rate, safe_div(won + strength * seg_rate, closed + strength)


def build_pipeline_signals(
    ds: Dataset,
    grid: CutoffGrid,
    *,
    win_rate_prior_strength: float,
    win_totals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pipeline features for every grid row (rows aligned with the grid); ``win_totals``:
    :func:`segment_win_totals` of all partners when the grid holds only some of them."""
    opps = ds.opportunities
    won_flag, lost_flag = _won_lost(opps)
    amount = opps["amount"].to_numpy(dtype=np.float64)
    cycle = (to_days(opps["closed_on"]) - to_days(opps["created_on"])).astype(np.float64)

    cols: dict[str, np.ndarray] = dict(_open_snapshot(ds, grid))

    created = make_events(
        grid.partner_ids, opps, "created_on", {"count": np.ones(len(opps)), "amount": amount}
    )
    created_sums = window_sums(grid, created, 4)
    cols["opps_created_1q"] = created_sums["count"][:, 0]
    cols["opps_created_4q"] = created_sums["count"].sum(axis=1)
    cols["created_amount_1q"] = created_sums["amount"][:, 0]

    closes = make_events(
        grid.partner_ids,
        opps,
        "closed_on",
        {"won": won_flag, "lost": lost_flag, "won_amount": amount * won_flag},
    )
    close_sums = window_sums(grid, closes, WIN_RATE_QUARTERS)
    won, lost = close_sums["won"], close_sums["lost"]
    cols["opps_won_1q"], cols["opps_lost_1q"] = won[:, 0], lost[:, 0]
    cols["opps_won_4q"], cols["opps_lost_4q"] = won[:, :4].sum(axis=1), lost[:, :4].sum(axis=1)
    cols["won_amount_1q"] = close_sums["won_amount"][:, 0]
    cols["won_amount_4q"] = close_sums["won_amount"][:, :4].sum(axis=1)
    cols["avg_won_deal_size_4q"] = safe_div(cols["won_amount_4q"], cols["opps_won_4q"])

    won_8q, closed_8q = won.sum(axis=1), won.sum(axis=1) + lost.sum(axis=1)
    cols["win_rate_8q"] = safe_div(won_8q, closed_8q)
    seg_rate, shrunk = _shrunk_win_rates(
        ds, grid, won_8q, closed_8q, win_rate_prior_strength, win_totals
    )
    cols["segment_win_rate_8q"] = seg_rate
    cols["win_rate_shrunk_8q"] = shrunk
    cols["open_amount_weighted"] = np.where(
        cols["open_amount"] == 0, 0.0, cols["open_amount"] * shrunk
    )

    won_events = make_events(
        grid.partner_ids, opps.loc[won_flag], "closed_on", {"cycle": cycle[won_flag]}
    )
    item, rows = events_in_window(grid, won_events, 4)
    median = np.full(len(grid), np.nan)
    if len(rows):
        med = pd.Series(won_events.values["cycle"][item]).groupby(rows).median()
        median[med.index.to_numpy()] = med.to_numpy()
    cols["median_sales_cycle_days_4q"] = median
    return pd.DataFrame(cols)
