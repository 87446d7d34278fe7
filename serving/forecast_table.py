"""The champion's forecasts of every known partner, scored once when it is loaded.

Known partners are forecast from the snapshot of features as of the training date, so
their answers never change while a model is loaded: scoring the whole snapshot once
(the library's own batch call) and answering requests by lookup gives the same numbers
as scoring per request, at a fraction of the latency (LightGBM's pandas conversion
costs several milliseconds per call, whatever the batch size). The rows are kept as
plain Python values per partner, so a request touches no frame at all (a one-partner
answer took ~3 ms of pandas on the loaded 2-core machine; now a dict lookup). Group
totals are sampled once per group level at the longest horizon, on first use or by
:meth:`ForecastTable.warm` right after a load (a second or more each): the totals of a
shorter horizon are the first rows of the longer one, since the sampler draws horizon by
horizon from one seeded stream.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field

import pandas as pd

from features.scoring import GROUP_LEVELS, MAX_HORIZON, PartnerForecaster, UnknownPartnersError

FIELDS: tuple[str, ...] = ("quarter_start", "horizon", "p10", "p50", "p90")
Row = tuple[dt.date, int, float, float, float]  # the FIELDS of one quarter's forecast


def quarter_rows(frame: pd.DataFrame) -> list[Row]:
    """Plain Python values of the forecast columns (:data:`FIELDS`), one tuple per row."""
    columns = (
        [ts.date() for ts in pd.to_datetime(frame["quarter_start"])],
        frame["horizon"].astype(int).tolist(),
        frame["p10"].astype(float).tolist(),
        frame["p50"].astype(float).tolist(),
        frame["p90"].astype(float).tolist(),
    )
    return list(zip(*columns, strict=True))


def rows_frame(rows: list[tuple[str, Row]], key: str) -> pd.DataFrame:
    """(key, row) pairs as a frame: ``key`` (``partner_id`` or ``group``) and :data:`FIELDS`."""
    return pd.DataFrame([(k, *row) for k, row in rows], columns=[key, *FIELDS])


def _check_horizon(horizon: int) -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise ValueError(f"horizon must be from 1 to {MAX_HORIZON}, got {horizon!r}")


@dataclass
class ForecastTable:
    """``forecaster.forecast(None, MAX_HORIZON)`` as rows per partner, group totals cached."""

    forecaster: PartnerForecaster
    rows: dict[str, list[Row]] = field(init=False)  # per partner, in horizon order
    _groups: dict[str, list[tuple[str, Row]]] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        frame = self.forecaster.forecast(None, MAX_HORIZON, num_threads=1)
        ids = frame["partner_id"].astype(str).tolist()
        self.rows = {}
        for pid, row in zip(ids, quarter_rows(frame), strict=True):
            self.rows.setdefault(pid, []).append(row)

    def forecast(self, partner_ids: list[str], horizon: int) -> list[tuple[str, Row]]:
        """(partner_id, row) in the order, and with the numbers, of
        ``forecaster.forecast(partner_ids, horizon)``: first occurrence order, duplicates
        dropped, each partner's quarters up to ``horizon``."""
        _check_horizon(horizon)
        unknown = sorted(set(partner_ids) - self.rows.keys())
        if unknown:
            raise UnknownPartnersError(unknown)
        return [
            (pid, row)
            for pid in dict.fromkeys(partner_ids)
            for row in self.rows[pid]
            if row[1] <= horizon
        ]

    def aggregate(self, group_by: str, horizon: int) -> list[tuple[str, Row]]:
        """(group, row) of ``forecaster.aggregate(group_by, horizon)``, same order and
        numbers; sampled once per level (concurrent first requests wait for one sampling)."""
        _check_horizon(horizon)
        return [(group, row) for group, row in self._level(group_by) if row[1] <= horizon]

    def has_level(self, group_by: str) -> bool:
        """Whether the totals of ``group_by`` are sampled already (a lookup, no wait)."""
        return group_by in self._groups

    def warm(self) -> None:
        """Sample every group level now (after a load, so no request waits for it): one
        scoring and one set of joint draws for all levels not sampled yet."""
        with self._lock:
            missing = [g for g in GROUP_LEVELS if g not in self._groups]
            if missing:
                frames = self.forecaster.aggregate_levels(missing, MAX_HORIZON, num_threads=1)
                for group_by, frame in frames.items():
                    self._groups[group_by] = _group_rows(frame)

    def _level(self, group_by: str) -> list[tuple[str, Row]]:
        cached = self._groups.get(group_by)
        if cached is None:
            with self._lock:
                cached = self._groups.get(group_by)
                if cached is None:
                    frame = self.forecaster.aggregate(group_by, MAX_HORIZON, num_threads=1)
                    cached = self._groups[group_by] = _group_rows(frame)
        return cached


def _group_rows(frame: pd.DataFrame) -> list[tuple[str, Row]]:
    return list(zip(frame["group"].astype(str).tolist(), quarter_rows(frame), strict=True))
