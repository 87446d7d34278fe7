"""Partners ranked by the value of investing in them next quarter, with reasons.

The score is what an incentive is expected to earn net of its cost (the recommender's best
option; 0 when no incentive pays) plus ``growth_weight`` times the growth the forecaster
expects (for example next quarter's P50 minus last quarter's revenue): growth is momentum
that an investment can ride, but it is revenue the vendor gets anyway, so it counts only
at a fraction. The default weight is 0: on the demo world every positive weight lowered
NDCG@50 against the true value of each partner's best incentive (quarter-to-quarter growth
of big partners is mostly seasonality and swamps the incentive value); growth still shows
in the reasons. The baseline is the sales-ops habit of ranking by last quarter's revenue.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.names import NONE


def _money(value: float) -> str:
    sign = "-" if value < 0 else "+"
    value = abs(value)
    if value >= 1e6:
        return f"{sign}{value / 1e6:.1f}M"
    if value >= 1e3:
        return f"{sign}{value / 1e3:.1f}k"
    return f"{sign}{value:.0f}"


SCALE_REASONS: dict[str, str] = {
    "relative": "effect relative to the partner's expected revenue",
    "absolute": "effect in money, whatever the partner's size",
    "mix": "effect a fixed amount plus a share of the partner's expected revenue",
}
"""How each effect scale (issue 23) reads in a reason."""


def _reason(
    incentive: str,
    net: float,
    uplift: float,
    cost: float,
    growth: float | None,
    scale: str | None = None,
) -> str:
    parts = []
    if incentive == NONE:
        parts.append("no incentive pays for itself")
    else:
        parts.append(
            f"{incentive} expected to net {_money(net)} (uplift {_money(uplift)}, "
            f"cost {_money(cost).lstrip('+')})"
        )
        if scale in SCALE_REASONS:
            parts.append(f"{SCALE_REASONS[scale]} (scale chosen by cross-fitted value)")
    if growth is not None and np.isfinite(growth):
        parts.append(f"forecast growth {_money(growth)} next quarter")
    return "; ".join(parts)


def rank_partners(
    recommendations: pd.DataFrame,
    *,
    growth: pd.Series | None = None,
    growth_weight: float = 0.0,
    top: int | None = None,
    scales: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``partner_id, rank, score`` (rank 1 = best), then the score's parts and ``reasons``.

    ``recommendations`` is :func:`features.scoring.policy.recommend_incentives`'s output (without a
    budget: every partner's best option). ``growth`` is indexed by ``partner_id``; partners
    without a value get 0. Ties break by partner_id, so the order is deterministic.
    ``scales`` (incentive: effect scale, issue 23) adds the chosen incentive's scale to its
    reason.
    """
    if growth_weight < 0:
        raise ValueError(f"growth_weight must be >= 0, got {growth_weight}")
    ids = recommendations["partner_id"].astype("string")
    net = recommendations["expected_net"].to_numpy(dtype=np.float64).clip(min=0)
    g = np.zeros(len(ids))
    if growth is not None:
        lookup = pd.Series(growth.to_numpy(dtype=np.float64), index=growth.index.astype(str))
        g = lookup.reindex(ids.astype(str).to_numpy()).fillna(0.0).to_numpy()
    score = net + growth_weight * g
    out = pd.DataFrame(
        {
            "partner_id": ids.to_numpy(),
            "score": score,
            "incentive": recommendations["incentive"].astype("string").to_numpy(),
            "expected_net": net,
            "growth": g,
        }
    )
    out = out.sort_values(["score", "partner_id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    uplift = recommendations.set_index(ids.to_numpy())["expected_uplift"]
    cost = recommendations.set_index(ids.to_numpy())["cost"]
    out["reasons"] = [
        _reason(
            str(row.incentive),
            float(row.expected_net),
            float(uplift.get(row.partner_id, 0.0)),
            float(cost.get(row.partner_id, 0.0)),
            float(row.growth) if growth is not None else None,
            (scales or {}).get(str(row.incentive)),
        )
        for row in out.itertuples(index=False)
    ]
    out["partner_id"] = out["partner_id"].astype("string")
    out["reasons"] = out["reasons"].astype("string")
    return out.head(top) if top is not None else out


def rank_by_last_revenue(features: pd.DataFrame, *, top: int | None = None) -> pd.DataFrame:
    """Baseline: ``partner_id, rank, score`` with score = last quarter's revenue."""
    out = pd.DataFrame(
        {
            "partner_id": features["partner_id"].astype("string").to_numpy(),
            "score": features["revenue_lag_1"].to_numpy(dtype=np.float64),
        }
    )
    out = out.sort_values(["score", "partner_id"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    return out.head(top) if top is not None else out
