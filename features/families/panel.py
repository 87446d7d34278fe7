"""The partner-quarter revenue panel: revenue per partner per quarter, point in time.

A partner has a row for every quarter from the quarter of its ``joined_on`` through the
quarter that contains ``as_of``; quarters without bookings have revenue 0, and the last
quarter only counts bookings dated on or before ``as_of``. The same sums feed the revenue
history features (``features.families.revenue_history``) and the training targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.families.windows import CutoffGrid, Events, make_events, to_days, window_sums


def revenue_events(ds: Dataset, partner_ids: pd.Index) -> Events:
    """Bookings as events, with revenue and its positive / credit-note parts."""
    amount = ds.bookings["amount"].to_numpy(dtype=np.float64)
    return make_events(
        partner_ids,
        ds.bookings,
        "booked_on",
        {
            "revenue": amount,
            "positive": np.clip(amount, 0.0, None),
            "credit": np.clip(-amount, 0.0, None),
        },
    )


def sorted_partner_ids(ds: Dataset) -> pd.Index:
    """All partner ids, sorted: the code space shared by every feature builder."""
    return pd.Index(ds.partners["partner_id"].sort_values().to_numpy(), dtype="string")


def join_quarters(ds: Dataset, partner_ids: pd.Index, calendar: QuarterCalendar) -> np.ndarray:
    """Quarter index of each partner's ``joined_on``, aligned with ``partner_ids``."""
    joined = ds.partners.set_index("partner_id")["joined_on"].reindex(partner_ids)
    return calendar.quarter_index_days(to_days(joined))


def build_revenue_panel(
    ds: Dataset, *, as_of: pd.Timestamp | str, calendar: QuarterCalendar
) -> pd.DataFrame:
    """Columns ``partner_id, quarter_start, revenue``: one row per partner-quarter to as_of."""
    as_of_day = to_days(np.array([pd.Timestamp(as_of)]))[0]
    ids = sorted_partner_ids(ds)
    join_q = join_quarters(ds, ids, calendar)
    q0 = int(calendar.quarter_index_days(as_of_day))
    present = np.flatnonzero(join_q <= q0)
    empty = pd.DataFrame(
        {
            "partner_id": pd.Series(dtype="string"),
            "quarter_start": pd.Series(dtype="datetime64[ns]"),
            "revenue": pd.Series(dtype="float64"),
        }
    )
    if len(present) == 0:
        return empty
    grid = CutoffGrid.build(calendar, ids, present, np.full(len(present), as_of_day))
    n_quarters = int(q0 - join_q[present].min() + 1)
    revenue = window_sums(grid, revenue_events(ds, ids), n_quarters)["revenue"]
    quarter = q0 - np.arange(n_quarters)[None, :] + np.zeros((len(grid), 1), dtype=np.int64)
    keep = quarter >= join_q[grid.code][:, None]
    code = np.broadcast_to(grid.code[:, None], quarter.shape)[keep]
    frame = pd.DataFrame(
        {
            "partner_id": pd.array(ids.to_numpy()[code], dtype="string"),
            "quarter_start": calendar.start_days(quarter[keep]).astype("datetime64[ns]"),
            "revenue": revenue[keep],
        }
    )
    return frame.sort_values(["partner_id", "quarter_start"], ignore_index=True)


def quarter_revenue(
    ds: Dataset, partner_ids: pd.Index, calendar: QuarterCalendar, q_lo: int, q_hi: int
) -> np.ndarray:
    """Revenue of complete quarters q_lo..q_hi as a (partners x quarters) matrix."""
    events = revenue_events(ds, partner_ids)
    q = calendar.quarter_index_days(events.day)
    keep = (q >= q_lo) & (q <= q_hi)
    nq = q_hi - q_lo + 1
    flat = events.code[keep] * nq + (q[keep] - q_lo)
    weights = events.values["revenue"][keep]
    sums = np.bincount(flat, weights=weights, minlength=len(partner_ids) * nq)
    return sums.reshape(len(partner_ids), nq)
