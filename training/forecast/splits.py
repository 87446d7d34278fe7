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


@dataclass(frozen=True)
class Fold:
    """Row positions of one rolling-origin fold."""

    cutoff: pd.Timestamp
    train: np.ndarray
    test: np.ndarray


def rolling_origin_folds(
    frame: pd.DataFrame, *, folds: int = 4, min_train_cutoffs: int = 2
) -> Iterator[Fold]:
    """Yield the last ``folds`` cutoffs as folds, oldest first.

    Uses the columns ``as_of`` (cutoff date) and ``quarter_start`` (target quarter).
    """
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    cutoffs = np.sort(frame["as_of"].unique())
    if len(cutoffs) < folds + min_train_cutoffs:
        raise ValueError(
            f"{folds} folds need at least {folds + min_train_cutoffs} cutoffs in the data, "
            f"found {len(cutoffs)}: use fewer folds or more quarters of history"
        )
    as_of = frame["as_of"].to_numpy()
    target_start = frame["quarter_start"].to_numpy()
    for cutoff in cutoffs[-folds:]:
        test = np.flatnonzero(as_of == cutoff)
        # a target quarter is known at the cutoff when it started on or before it
        # (cutoffs are quarter ends, so such a quarter has ended by then)
        train = np.flatnonzero((as_of < cutoff) & (target_start <= cutoff))
        yield Fold(cutoff=pd.Timestamp(cutoff), train=train, test=test)
