"""A point-in-time seasonal index per region, pooled across partners, for each target quarter.

The sales-ops estimate has no season: it plans every quarter at the trailing run-rate. Where a
year-end peak is three times the trough and the history is short (8 quarters, most partners
joining late: the ``seasonal`` scenario), no single partner's history says much about its
season and the trees see one or two target quarters in the first folds, so they cannot learn
the season either. Pooled over a region's partners the season is plain after one year.

For each as-of date and region, over the partners with revenue in all of the last four
quarters (the *mature* ones), with ``S_k`` the sum of their ``revenue_lag_k``:

    raw(target) = S_L / mean(S_1..S_4),   L = the lag of the target quarter one year back

and, where the same partners also have the four quarters before (lags 5-8), the raw index is
divided by the year's growth spread over the window (``g ** (2.5 - L)`` with
``g = (sum S_1..4 / sum S_5..8) ** (1/4)``), so growth is not read as season. The index is
shrunk to 1 with the number of mature partners ``n``: ``1 + n / (n + PRIOR_PARTNERS) * (raw -
1)``, and is 1 where nothing is known. Every input is a lag of a row as of its date, so
nothing after the as-of date can reach it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

SEASONAL_FEATURES: tuple[str, ...] = (
    "seasonal_index_target_q",
    "seasonal_plan",
    "seasonal_trend_plan",
)
"""Per-horizon columns: the index, the sales-ops estimate times it, and the trended run-rate
plan (``features.families.target_quarter``) times it: seasonal starts, never tree features."""
PRIOR_PARTNERS = 30.0  # mature partners for half the raw index's weight
GROUP_COLUMN = "region"
INDEX_BOUNDS = (0.2, 5.0)  # a pooled season beyond 5x either way is a data problem


def _lags(frame: Mapping[str, np.ndarray], first: int, last: int) -> np.ndarray:
    return np.column_stack(
        [np.asarray(frame[f"revenue_lag_{k}"], dtype=np.float64) for k in range(first, last + 1)]
    )


def _groups(frame: Mapping[str, np.ndarray]) -> tuple[np.ndarray, pd.MultiIndex]:
    """Each row's group code and the groups, (as_of, region); region ``""`` when the frame
    has none."""
    as_of_code, as_of = pd.factorize(np.asarray(frame["as_of"]).astype("datetime64[ns]"))
    if GROUP_COLUMN in frame:
        region_code, region = pd.factorize(
            pd.Series(np.asarray(frame[GROUP_COLUMN], dtype=object)), use_na_sentinel=False
        )
        region = np.asarray(region, dtype=object)
    else:
        region_code, region = np.zeros(len(as_of_code), dtype=np.int64), np.array([""], object)
    code, combined = pd.factorize(as_of_code.astype(np.int64) * len(region) + region_code)
    labels = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(as_of)[combined // len(region)], region[combined % len(region)]],
        names=["as_of", GROUP_COLUMN],
    )
    return code, labels


SUM_COLUMNS: tuple[str, ...] = (
    *(f"s_{k}" for k in range(1, 5)),
    "n",
    *(f"s8_{k}" for k in range(1, 5)),
    *(f"older_{k}" for k in range(5, 9)),
)
"""What :func:`seasonal_sums` adds up per group: everything the index is made of is a sum over
the group's partners, so partitions of partners can each add theirs up
(``features.distributed``) and the pooled sums give the same index."""


def _row_sums(frame: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, the terms :data:`SUM_COLUMNS` adds up (zero where a row is not mature)."""
    recent, older = _lags(frame, 1, 4), _lags(frame, 5, 8)
    mature = ~np.isnan(recent).any(axis=1)
    mature8 = mature & ~np.isnan(older).any(axis=1)
    return np.column_stack(
        [
            np.where(mature[:, None], recent, 0.0),
            mature.astype(np.float64),
            np.where(mature8[:, None], recent, 0.0),
            np.where(mature8[:, None], older, 0.0),
        ]
    )


def _sums(frame: Mapping[str, np.ndarray], code: np.ndarray, n_groups: int) -> np.ndarray:
    terms = _row_sums(frame)
    return np.column_stack(
        [np.bincount(code, weights=terms[:, j], minlength=n_groups) for j in range(terms.shape[1])]
    )


def seasonal_sums(frame: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The sums of :data:`SUM_COLUMNS` per (as_of, region) group of the rows of ``frame``."""
    code, groups = _groups(frame)
    return pd.DataFrame(_sums(frame, code, len(groups)), index=groups, columns=list(SUM_COLUMNS))


def _index_from_sums(sums: np.ndarray) -> np.ndarray:
    """The shrunk index, shape (groups, 4), from the groups' :data:`SUM_COLUMNS` sums."""
    s, n = sums[:, 0:4], sums[:, 4]
    s8, older_sums = sums[:, 5:9], sums[:, 9:13]
    mean = s.mean(axis=1, keepdims=True)
    # a quarter with no revenue at all in a group is one before the data began (an export
    # that starts later than the partners' sign-up reads as zero revenue): nothing is known
    known = (s > 0).all(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(known & (mean > 0), s / mean, 1.0)
        year, year_before = s8.sum(axis=1), older_sums.sum(axis=1)
        known8 = (s8 > 0).all(axis=1) & (older_sums > 0).all(axis=1)
        growth = np.where(known8, year / year_before, 1.0) ** 0.25
    raw = raw / growth[:, None] ** (2.5 - np.arange(1, 5))[None, :]
    raw = np.clip(np.nan_to_num(raw, nan=1.0), *INDEX_BOUNDS)
    weight = (n / (n + PRIOR_PARTNERS))[:, None]
    return 1.0 + weight * (raw - 1.0)


def seasonal_indexes(
    frame: Mapping[str, np.ndarray], pooled: pd.DataFrame | None = None
) -> np.ndarray:
    """Per partner row (keys ``as_of``, optionally ``region``, and ``revenue_lag_1..8``), the
    shrunk pooled index of the quarters one to four lags back: shape (rows, 4), column
    ``L - 1`` for lag ``L``.

    ``pooled``: :func:`seasonal_sums` over all partners (added up over partitions of them)
    when ``frame`` holds only some; by default the rows of ``frame`` are all the partners."""
    if len(frame["as_of"]) == 0:
        return np.ones((0, 4))
    code, groups = _groups(frame)
    if pooled is None:
        sums = _sums(frame, code, len(groups))
    else:
        sums = pooled.reindex(groups).to_numpy(dtype=np.float64)
    return _index_from_sums(sums)[code]


def target_quarter_index(indexes: np.ndarray, horizon: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The index of each row's target quarter: horizon ``h`` is lag ``5 - h`` one year back
    (and the same quarter of the year for ``h`` beyond 4)."""
    lag = (4 - np.asarray(horizon)) % 4 + 1
    return indexes[np.asarray(rows), lag - 1]
