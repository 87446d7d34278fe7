"""Point-in-time windows: the (partner, as_of) rows features are built for, and sums over them.

Every feature family works on a :class:`CutoffGrid`: one row per (partner, as_of), for one
as-of date (scoring) or for many quarter-end cutoffs at once (training). Dated events
(bookings, activities, opportunity closes, incentives) become :class:`Events`, and the
helpers here answer "how much happened in each trailing quarter, as of each row's as_of"
for all rows at once with numpy (``bincount`` into a dense partner x quarter matrix plus one
vectorised pass for the quarter that contains the as-of date), never with a per-partner loop.

Window convention (see ``features.frames``): the quarter that contains ``as_of`` is q0, and
window column 0 is q0 counted only up to ``as_of``; column k is the complete quarter q0 - k.
A sum over a complete quarter only reads events of that quarter, and the q0 column only reads
events dated on or before ``as_of``, so nothing dated after a row's as_of can reach it — not
even through floating-point summation order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.calendar import QuarterCalendar

NO_DAY = np.iinfo(np.int64).min  # "no event" in integer day arrays


def to_days(values: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as ``datetime64[D]`` (NaT stays NaT)."""
    return np.asarray(values, dtype="datetime64[ns]").astype("datetime64[D]")


@dataclass(frozen=True)
class CutoffGrid:
    """Rows to build features for: partner codes (positions in ``partner_ids``) and as-of days.

    Rows are sorted by partner code, then as_of; ``partner_ids`` is sorted, so that is also
    partner_id order. ``as_of_values`` are the distinct as-of days, ``as_of_pos`` each row's
    position in them.
    """

    calendar: QuarterCalendar
    partner_ids: pd.Index
    code: np.ndarray
    as_of: np.ndarray
    q0: np.ndarray
    as_of_values: np.ndarray
    as_of_pos: np.ndarray

    @classmethod
    def build(
        cls,
        calendar: QuarterCalendar,
        partner_ids: pd.Index,
        code: np.ndarray,
        as_of: np.ndarray,
    ) -> CutoffGrid:
        """Sort the rows and precompute quarter indexes."""
        code = np.asarray(code, dtype=np.int64)
        as_of = to_days(as_of)
        order = np.lexsort((as_of, code))
        code, as_of = code[order], as_of[order]
        values, pos = np.unique(as_of, return_inverse=True)
        return cls(
            calendar=calendar,
            partner_ids=partner_ids,
            code=code,
            as_of=as_of,
            q0=calendar.quarter_index_days(as_of),
            as_of_values=values,
            as_of_pos=pos.astype(np.int64),
        )

    def __len__(self) -> int:
        return len(self.code)

    @property
    def n_partners(self) -> int:
        return len(self.partner_ids)

    def row_lookup(self, code: np.ndarray, as_of_pos: np.ndarray) -> np.ndarray:
        """Grid row of each (partner code, as-of position) pair, -1 where there is none."""
        table = np.full((self.n_partners, len(self.as_of_values)), -1, dtype=np.int64)
        table[self.code, self.as_of_pos] = np.arange(len(self), dtype=np.int64)
        return table[code, as_of_pos]


@dataclass(frozen=True)
class Events:
    """Dated events of known partners: partner code, day, and numeric values per event."""

    code: np.ndarray
    day: np.ndarray
    values: dict[str, np.ndarray]
    kind: np.ndarray | None = None  # position in a vocabulary, -1 for values outside it

    def __len__(self) -> int:
        return len(self.code)

    def subset(self, mask: np.ndarray) -> Events:
        """The events where ``mask`` holds."""
        kind = None if self.kind is None else self.kind[mask]
        values = {k: v[mask] for k, v in self.values.items()}
        return Events(self.code[mask], self.day[mask], values, kind)


def partner_codes(partner_ids: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each partner_id in ``partner_ids`` (-1 for unknown partners).

    Factorizes first (fast on Arrow strings) and looks up only the distinct ids.
    """
    codes, uniques = pd.factorize(values)
    lookup = np.append(partner_ids.get_indexer(pd.Index(uniques)).astype(np.int64), -1)
    return lookup[codes]


def make_events(
    partner_ids: pd.Index,
    frame: pd.DataFrame,
    date_column: str,
    values: dict[str, np.ndarray] | None = None,
    kind_column: str | None = None,
    vocabulary: tuple[str, ...] = (),
) -> Events:
    """Events from a contract frame; rows of unknown partners or without a date are dropped.

    With ``kind_column``, each event also gets its value's position in ``vocabulary``
    (-1 for a value outside it, e.g. an activity type first seen at scoring time).
    """
    code = partner_codes(partner_ids, frame["partner_id"])
    day = to_days(frame[date_column])
    keep = (code >= 0) & ~np.isnat(day)
    vals = {k: np.asarray(v, dtype=np.float64)[keep] for k, v in (values or {}).items()}
    kind = None
    if kind_column is not None:
        kinds = pd.Index(vocabulary, dtype="string").get_indexer(pd.Index(frame[kind_column]))
        kind = kinds.astype(np.int64)[keep]
    return Events(code[keep], day[keep], vals, kind)


def explode_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (item, j) with ``lo[item] <= j < hi[item]``, vectorised."""
    n = np.clip(hi - lo, 0, None).astype(np.int64)
    item = np.repeat(np.arange(len(n), dtype=np.int64), n)
    starts = np.cumsum(n) - n
    j = lo[item] + (np.arange(n.sum(), dtype=np.int64) - starts[item])
    return item, j


def events_in_q0(grid: CutoffGrid, events: Events) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (event, grid row) for events in a row's q0 dated on or before its as_of."""
    if len(events) == 0 or len(grid) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cal, values = grid.calendar, grid.as_of_values
    value_q = cal.quarter_index_days(values)
    event_q = cal.quarter_index_days(events.day)
    lo = np.searchsorted(values, events.day, side="left")  # first as_of on/after the event
    hi = np.searchsorted(value_q, event_q, side="right")  # as-of dates in the event's quarter
    item, pos = explode_ranges(lo, hi)
    rows = grid.row_lookup(events.code[item], pos)
    keep = rows >= 0
    return item[keep], rows[keep]


def events_in_window(
    grid: CutoffGrid, events: Events, n_quarters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (event, grid row) for events dated in quarters q0-n+1 .. q0 and on/before as_of.

    Each event is expanded to the as-of dates whose window holds it, so the cost is
    events x cutoffs-per-window; use it for statistics that are not sums (medians).
    """
    if len(events) == 0 or len(grid) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cal, values = grid.calendar, grid.as_of_values
    value_q = cal.quarter_index_days(values)
    event_q = cal.quarter_index_days(events.day)
    lo = np.searchsorted(values, events.day, side="left")
    hi = np.searchsorted(value_q, event_q + n_quarters - 1, side="right")
    item, pos = explode_ranges(lo, hi)
    rows = grid.row_lookup(events.code[item], pos)
    keep = rows >= 0
    return item[keep], rows[keep]


def _dense_quarters(grid: CutoffGrid, events: Events, n_back: int) -> tuple[int, int]:
    """The quarter range [q_lo, q_hi] of complete quarters any row can look back on."""
    q_hi = int(grid.q0.max()) - 1
    q_lo = int(grid.q0.min()) - n_back
    if len(events):
        q_lo = min(q_lo, int(grid.calendar.quarter_index_days(events.day.min())))
    return q_lo, max(q_hi, q_lo)


def window_sums(grid: CutoffGrid, events: Events, n_quarters: int) -> dict[str, np.ndarray]:
    """Per value, a (rows x n_quarters) matrix: column 0 = q0 up to as_of, column k = q0 - k."""
    out = {k: np.zeros((len(grid), n_quarters)) for k in events.values}
    if len(grid) == 0 or len(events) == 0:
        return out
    item, rows = events_in_q0(grid, events)
    for name, v in events.values.items():
        out[name][:, 0] = np.bincount(rows, weights=v[item], minlength=len(grid))
    if n_quarters == 1:
        return out
    q_lo, q_hi = _dense_quarters(grid, events, n_quarters)
    dense = _dense_sums(grid, events, q_lo, q_hi)
    lags = np.arange(1, n_quarters)
    col = grid.q0[:, None] - lags[None, :] - q_lo
    for name, matrix in dense.items():
        out[name][:, 1:] = matrix[grid.code[:, None], col]
    return out


def cumulative_sums(grid: CutoffGrid, events: Events) -> dict[str, np.ndarray]:
    """Per value, the sum over every event dated on or before each row's as_of."""
    q0_sums = window_sums(grid, events, 1)
    out = {k: v[:, 0].copy() for k, v in q0_sums.items()}
    if len(grid) == 0 or len(events) == 0:
        return out
    q_lo, q_hi = _dense_quarters(grid, events, 1)
    for name, matrix in _dense_sums(grid, events, q_lo, q_hi).items():
        running = np.cumsum(matrix, axis=1)
        out[name] += running[grid.code, grid.q0 - 1 - q_lo]
    return out


def _dense_sums(grid: CutoffGrid, events: Events, q_lo: int, q_hi: int) -> dict[str, np.ndarray]:
    """Sums per (partner code, complete quarter q_lo..q_hi) as dense matrices."""
    nq = q_hi - q_lo + 1
    q = grid.calendar.quarter_index_days(events.day)
    keep = (q >= q_lo) & (q <= q_hi)
    flat = events.code[keep] * nq + (q[keep] - q_lo)
    size = grid.n_partners * nq
    return {
        name: np.bincount(flat, weights=v[keep], minlength=size).reshape(grid.n_partners, nq)
        for name, v in events.values.items()
    }


def last_event_day(grid: CutoffGrid, events: Events) -> np.ndarray:
    """Day of each row's latest event dated on or before its as_of (NaT if none)."""
    out = np.full(len(grid), NO_DAY, dtype=np.int64)
    if len(grid) == 0 or len(events) == 0:
        return out.astype("datetime64[D]")
    day = events.day.astype(np.int64)
    item, rows = events_in_q0(grid, events)
    np.maximum.at(out, rows, day[item])
    q_lo, q_hi = _dense_quarters(grid, events, 1)
    nq = q_hi - q_lo + 1
    q = grid.calendar.quarter_index_days(events.day)
    keep = (q >= q_lo) & (q <= q_hi)
    dense = np.full(grid.n_partners * nq, NO_DAY, dtype=np.int64)
    np.maximum.at(dense, events.code[keep] * nq + (q[keep] - q_lo), day[keep])
    running = np.maximum.accumulate(dense.reshape(grid.n_partners, nq), axis=1)
    out = np.maximum(out, running[grid.code, grid.q0 - 1 - q_lo])
    return _days_or_nat(out)


def first_event_day(grid: CutoffGrid, events: Events) -> np.ndarray:
    """Day of each row's partner's first event, NaT if it is after the row's as_of (or none)."""
    first = np.full(grid.n_partners, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, events.code, events.day.astype(np.int64))
    out = first[grid.code]
    out = np.where(out <= grid.as_of.astype(np.int64), out, NO_DAY)
    return _days_or_nat(out)


def _days_or_nat(days: np.ndarray) -> np.ndarray:
    result = days.astype("datetime64[D]")
    result[days == NO_DAY] = np.datetime64("NaT")
    return result


def quarters_between(calendar: QuarterCalendar, q0: np.ndarray, days: np.ndarray) -> np.ndarray:
    """q0 minus the quarter index of ``days`` as float, NaN where the day is NaT."""
    out = np.full(len(days), np.nan)
    ok = ~np.isnat(days)
    out[ok] = q0[ok] - calendar.quarter_index_days(days[ok])
    return out


def days_between(as_of: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Days from ``days`` to ``as_of`` as float, NaN where the day is NaT."""
    out = np.full(len(days), np.nan)
    ok = ~np.isnat(days)
    out[ok] = (as_of[ok] - days[ok]).astype(np.int64)
    return out


def safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float, NaN where den is 0 or either side is missing."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    ok = np.isfinite(den) & (den != 0) & np.isfinite(num)
    np.divide(num, den, out=out, where=ok)
    return out
