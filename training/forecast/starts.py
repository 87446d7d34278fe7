"""Which start the boosters correct, per horizon, chosen by the data.

The boosters learn corrections to a start (the offset). The sales-ops estimate is a good
start where deals and pipeline carry the revenue, and a poor one where a recurring business
grows or shrinks for years (the subscription world: 0.34 WAPE against 0.26 for last
quarter's run-rate grown at the partner's long-run rate), and the trees do not make up for a
poor start with few rows per horizon. A start is a fixed formula with no fitted parameters,
so its WAPE on the training rows is an honest, out-of-sample score of it on the past: for each
horizon, the candidate with the lowest WAPE there is the start, if it beats the default start
by at least :data:`MARGIN` (relative), else the default stays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.metrics import wape

MARGIN = 0.02
"""Relative WAPE gain a candidate needs over the default start to replace it."""


def choose_starts(
    X: pd.DataFrame,
    y: np.ndarray,
    horizon: np.ndarray,
    *,
    default: str,
    candidates: Sequence[str],
    margin: float = MARGIN,
) -> dict[int, str]:
    """Per horizon of ``horizon``, the column of ``X`` (``default`` or one of ``candidates``)
    whose values forecast ``y`` with the lowest WAPE, if that is at least ``margin`` (relative)
    below the default's; NaN counts as 0, as in the offset."""
    y, horizon = np.asarray(y, dtype=float), np.asarray(horizon)
    missing = [c for c in (default, *candidates) if c not in X.columns]
    if missing:
        raise ValueError(f"start columns {missing} are not in the training features")
    out = {}
    for h in np.unique(horizon):
        rows = horizon == h
        scores = {
            column: wape(y[rows], np.nan_to_num(X[column].to_numpy(dtype=float)[rows], nan=0.0))
            for column in dict.fromkeys((default, *candidates))
        }
        best = min(candidates, key=scores.__getitem__, default=default)
        out[int(h)] = best if scores[best] < scores[default] * (1.0 - margin) else default
    return out
