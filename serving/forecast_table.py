"""The champion's forecasts of every known partner, scored once when it is loaded.

Known partners are forecast from the snapshot of features as of the training date, so
their answers never change while a model is loaded: scoring the whole snapshot once
(the library's own batch call) and answering requests by lookup gives the same numbers
as scoring per request, at a fraction of the latency (LightGBM's pandas conversion
costs several milliseconds per call, whatever the batch size). Group totals are cached
per (group, horizon) on first use, since their sampling costs most of a second.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.scoring import MAX_HORIZON, PartnerForecaster, UnknownPartnersError


@dataclass
class ForecastTable:
    """``forecaster.forecast(None, 4)`` with row positions per partner."""

    forecaster: PartnerForecaster
    frame: pd.DataFrame = field(init=False)
    positions: dict[str, np.ndarray] = field(init=False)
    _groups: dict[tuple[str, int], pd.DataFrame] = field(init=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        frame = self.forecaster.forecast(None, MAX_HORIZON, num_threads=1)
        self.frame = frame.reset_index(drop=True)
        ids = self.frame["partner_id"].astype(str).to_numpy()
        codes, uniques = pd.factorize(ids)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        self.positions = {
            str(pid): order[bounds[i] : bounds[i + 1]] for i, pid in enumerate(uniques)
        }
        self._horizon = self.frame["horizon"].to_numpy()

    def forecast(self, partner_ids: list[str], horizon: int) -> pd.DataFrame:
        """Same rows, order and numbers as ``forecaster.forecast(partner_ids, horizon)``."""
        if not 1 <= horizon <= MAX_HORIZON:
            raise ValueError(f"horizon must be from 1 to {MAX_HORIZON}, got {horizon!r}")
        unknown = sorted(set(partner_ids) - self.positions.keys())
        if unknown:
            raise UnknownPartnersError(unknown)
        wanted = dict.fromkeys(partner_ids)  # first occurrence order, duplicates dropped
        take = np.concatenate([self.positions[p] for p in wanted])
        take = take[self._horizon[take] <= horizon]
        return self.frame.iloc[take]

    def aggregate(self, group_by: str, horizon: int) -> pd.DataFrame:
        """``forecaster.aggregate(group_by, horizon)``, computed once per argument pair."""
        key = (group_by, horizon)
        cached = self._groups.get(key)
        if cached is None:
            with self._lock:  # one computation per key, even under concurrent requests
                cached = self._groups.get(key)
                if cached is None:
                    cached = self.forecaster.aggregate(group_by, horizon, num_threads=1)
                    self._groups[key] = cached
        return cached
