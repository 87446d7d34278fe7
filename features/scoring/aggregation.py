"""Coherent group forecasts (region, tier, partner type, total) from partner quantiles.

Summing partner P10s gives a far too wide P10 for the total (it assumes every
partner misses low together), and assuming independence gives one far too
narrow. We read each partner's P10/P50/P90 as a split normal distribution in
the model's space (asinh: there partner errors are close to symmetric, and the
back-transform restores revenue's right skew), tie partners together with a
Gaussian copula whose single correlation ``rho`` per horizon is estimated from
backtest errors (:func:`estimate_rho`), draw joint samples, and sum them by
group. A group's P50 is the mean of its simulated total: the sum of partner
medians would sit far below the total (revenue is right-skewed), while means
add up, so regions sum to the total exactly (every level is cut from the same
draws), and for groups of many partners the mean and the median of the total
are within a percent or two. P10/P90 are the simulated total's quantiles.

This module is used at training (backtests) and at request time (the API), so it
lives on the ground floor.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.special import ndtri

from features.scoring.quantiles import forward_transform

Z90 = float(ndtri(0.9))  # 1.2816: the standard normal's 90th percentile


def split_normal_values(
    p10: np.ndarray, p50: np.ndarray, p90: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """Values at standard-normal scores ``z`` of split normals through the three quantiles.

    ``z`` has shape (partners, samples); the quantile arrays have shape (partners,).
    """
    lower = ((p50 - p10) / Z90)[:, None]
    upper = ((p90 - p50) / Z90)[:, None]
    return p50[:, None] + z * np.where(z < 0, lower, upper)


def split_normal_scores(
    actual: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray
) -> np.ndarray:
    """Standard-normal score of each actual under its split normal (the inverse map)."""
    lower, upper = (p50 - p10) / Z90, (p90 - p50) / Z90
    below = actual < p50
    scale = np.where(below, lower, upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, (actual - p50) / scale, 0.0)
    return np.clip(z, -6.0, 6.0)


def estimate_rho(scores: pd.DataFrame, *, max_rho: float = 0.95) -> float:
    """Equicorrelation of partner scores that share a cutoff and horizon.

    ``scores`` has columns ``as_of``, ``horizon`` and ``z`` (from
    :func:`split_normal_scores` on backtest rows). With scores of variance
    ``s2`` and correlation ``rho`` inside a group of ``n`` partners, the
    within-group variance is ``W = s2 (1 - rho)`` and the mean square of the
    group means is ``B = s2 rho + W / n``; so ``rho = (B - W/n) / (B - W/n + W)``
    (an intra-class correlation), pooled over groups.
    """
    groups = scores.groupby(["as_of", "horizon"], sort=True)["z"]
    stats = pd.DataFrame({"mean": groups.mean(), "n": groups.size(), "var": groups.var()})
    stats = stats[stats["n"] > 1]
    if stats.empty:
        return 0.0
    within = float(stats["var"].mean())
    shared = float((stats["mean"] ** 2 - stats["var"] / stats["n"]).mean())
    if within <= 0:
        return max_rho if shared > 0 else 0.0
    return float(np.clip(shared / (shared + within), 0.0, max_rho))


def aggregate_forecasts(
    forecasts: pd.DataFrame,
    groups: pd.Series,
    *,
    rho: float | dict[int, float],
    transform: str = "none",
    scale: float = 1.0,
    n_samples: int = 2000,
    seed: int = 42,
    chunk: int = 2048,
) -> pd.DataFrame:
    """Group forecasts with intervals that are right for the sum.

    ``forecasts``: ``partner_id, quarter_start, horizon, p10, p50, p90``.
    ``groups``: the group of each partner, indexed by ``partner_id`` (use a
    constant for the total). ``transform``/``scale``: the space the partner
    quantiles are interpolated in (the forecaster's). Returns ``group,
    quarter_start, horizon, p10, p50, p90``; ``p50`` is the expected total, so
    groups that partition the partners add up to the total's ``p50``.
    """
    return aggregate_forecast_levels(
        forecasts,
        {"": groups},
        rho=rho,
        transform=transform,
        scale=scale,
        n_samples=n_samples,
        seed=seed,
        chunk=chunk,
    )[""]


def aggregate_forecast_levels(
    forecasts: pd.DataFrame,
    levels: Mapping[str, pd.Series],
    *,
    rho: float | dict[int, float],
    transform: str = "none",
    scale: float = 1.0,
    n_samples: int = 2000,
    seed: int = 42,
    chunk: int = 2048,
) -> dict[str, pd.DataFrame]:
    """:func:`aggregate_forecasts` for several groupings of the same partners at once.

    The draws depend only on the forecasts and the seed, never on the groups,
    so each level's result is exactly what :func:`aggregate_forecasts` returns
    for it alone, while the samples (the cost: partners x ``n_samples`` normal
    draws, split-normal values and ``sinh``) are made once for all levels.
    Sums are added row by row in the order ``np.add.at`` adds them (the same
    floating-point numbers, about ten times faster than ``np.add.at`` here).
    """
    partner_ids = forecasts["partner_id"].to_numpy()
    group_of = {}
    for level, groups in levels.items():
        mapped = groups.reindex(partner_ids)
        if mapped.isna().any():
            missing = forecasts["partner_id"][mapped.isna().to_numpy()].unique()[:5]
            raise ValueError(f"no group for partners {list(missing)}")
        group_of[level] = mapped.to_numpy()
    rng = np.random.default_rng(seed)
    q_all = forward_transform(
        forecasts[["p10", "p50", "p90"]].to_numpy(dtype=float), transform, scale
    )
    out: dict[str, list[pd.DataFrame]] = {level: [] for level in levels}
    cells = forecasts.groupby(["quarter_start", "horizon"], sort=True).indices
    for (quarter_start, horizon), positions in cells.items():
        r = rho.get(int(horizon), 0.0) if isinstance(rho, dict) else rho
        coded = {level: pd.factorize(g[positions], sort=True) for level, g in group_of.items()}
        common = np.sqrt(r) * rng.standard_normal(n_samples)
        sums = {level: np.zeros((len(names), n_samples)) for level, (_, names) in coded.items()}
        rows_of = {level: list(totals) for level, totals in sums.items()}  # views into sums
        q = q_all[positions]
        for start in range(0, len(positions), chunk):
            sl = slice(start, start + chunk)
            values = rng.standard_normal((len(q[sl]), n_samples))
            values *= np.sqrt(1.0 - r)
            values += common[None, :]
            _split_normal_inplace(q[sl, 0], q[sl, 1], q[sl, 2], values)
            if transform == "asinh":
                np.sinh(values, out=values)
                values *= scale
            for level, (codes, _) in coded.items():
                rows = rows_of[level]
                for code, row in zip(codes[sl].tolist(), values, strict=True):
                    rows[code] += row  # np.add.at's order: the same sums, bit for bit
        for level, (_, names) in coded.items():
            totals = sums[level]
            p50 = totals.mean(axis=1)
            out[level].append(
                pd.DataFrame(
                    {
                        "group": names.astype(str),
                        "quarter_start": quarter_start,
                        "horizon": int(horizon),
                        "p10": np.minimum(np.quantile(totals, 0.1, axis=1), p50),
                        "p50": p50,
                        "p90": np.maximum(np.quantile(totals, 0.9, axis=1), p50),
                    }
                )
            )
    return {
        level: (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=["group", "quarter_start", "horizon", "p10", "p50", "p90"])
        ).sort_values(["group", "horizon"], ignore_index=True)
        for level, frames in out.items()
    }


def _split_normal_inplace(p10: np.ndarray, p50: np.ndarray, p90: np.ndarray, z: np.ndarray) -> None:
    """:func:`split_normal_values` written into ``z`` (the same operations, fewer temporaries)."""
    z *= np.where(z < 0, ((p50 - p10) / Z90)[:, None], ((p90 - p50) / Z90)[:, None])
    z += p50[:, None]
