"""Rolling-origin folds over forecast frames, with no look-ahead.

A forecast frame has one row per (partner, cutoff ``as_of``, horizon) and the
target quarter's ``quarter_start``. Fold k tests the rows built at the k-th last
cutoff; it trains only on rows whose target quarter had ended by that cutoff,
so nothing the model learns from was unknown on the test's as-of date.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.data import ShortHistory


@dataclass(frozen=True)
class Fold:
    """Row positions of one rolling-origin fold."""

    cutoff: pd.Timestamp
    train: np.ndarray
    test: np.ndarray


PREFERRED_TRAIN_CUTOFFS = 2
"""Earlier cutoffs a fold learns from when the history allows it (one at the least)."""


def usable_folds(frame: pd.DataFrame, wanted: int) -> int:
    """How many of ``wanted`` folds the frame's cutoffs allow: each fold keeps
    :data:`PREFERRED_TRAIN_CUTOFFS` earlier cutoffs to learn from when the history is long
    enough, one when it is not; 0 when fewer than two cutoffs have a known outcome.

    With quarterly cutoffs: 2 quarters of bookings -> 0 folds, 3 -> 1, 5 -> 2, 6+ -> 4.
    """
    n = int(frame["as_of"].nunique())
    if n < 2:
        return 0
    return max(1, min(wanted, n - PREFERRED_TRAIN_CUTOFFS))


def rolling_origin_folds(
    frame: pd.DataFrame, *, folds: int = 4, min_train_cutoffs: int = 1
) -> Iterator[Fold]:
    """Yield the last ``folds`` cutoffs as folds, oldest first.

    Uses the columns ``as_of`` (cutoff date) and ``quarter_start`` (target quarter).
    Raises :class:`~features.data.ShortHistory` when the history has too few cutoffs
    (:func:`usable_folds` says how many it allows).
    """
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    cutoffs = np.sort(frame["as_of"].unique())
    if len(cutoffs) < folds + min_train_cutoffs:
        allowed = usable_folds(frame, folds)
        raise ShortHistory(
            f"{folds} backtest fold{'s' if folds != 1 else ''} need at least "
            f"{folds + min_train_cutoffs} quarter-end cutoffs with a known next quarter, "
            f"the data has {len(cutoffs)}: "
            + (
                f"use --folds {allowed} or fewer (or more quarters of history)"
                if allowed
                else "too short to backtest; it needs more quarters of history"
            )
        )
    as_of = frame["as_of"].to_numpy()
    target_start = frame["quarter_start"].to_numpy()
    for cutoff in cutoffs[-folds:]:
        test = np.flatnonzero(as_of == cutoff)
        # a target quarter is known at the cutoff when it started on or before it
        # (cutoffs are quarter ends, so such a quarter has ended by then)
        train = np.flatnonzero((as_of < cutoff) & (target_start <= cutoff))
        yield Fold(cutoff=pd.Timestamp(cutoff), train=train, test=test)
