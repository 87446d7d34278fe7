"""Evaluation of uplift models, incentive policies and partner rankings.

- Qini curve and coefficient, AUUC and uplift at k: on randomized rows, where treated and
  control differ only by chance: one incentive against the other randomized incentives
  (:func:`randomized_contrasts`). Data that record the randomized ``none`` holdouts (the
  contract's control arm) also give each incentive's comparison with ``none``; the uplift
  model reads it (``UpliftModel.randomized_``).
- Policy net value: the true expected net (uplift - cost) of any choice of incentives, given
  ground-truth effects (the demo world's ``incentive_effects``).
- NDCG@k of a ranking against a ground-truth relevance.

Definitions (rows sorted by score, highest first, ties in input order; ``n`` rows):

- Qini curve ``Q(i) = Y_T(i) - Y_C(i) * N_T(i) / N_C(i)`` over the first ``i`` rows (sums of
  outcomes and counts of treated and control; the ratio is 0 while ``N_C(i) = 0``), with
  ``Q(0) = 0``, against the fraction ``i / n``;
- Qini coefficient: the area under Q by the trapezoid rule over the fraction minus the area
  under the random line from ``(0, 0)`` to ``(1, Q(n))``, i.e. ``Q(n) / 2``;
- AUUC: the same area for the uplift curve ``G(i) = (mean_T(i) - mean_C(i)) * i``
  (0 while either group is empty), without subtracting anything.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.names import NONE


def _sorted_arrays(
    y: np.ndarray, treated: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")
    return np.asarray(y, dtype=np.float64)[order], np.asarray(treated, dtype=bool)[order]


def qini_curve(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Columns ``fraction``, ``qini``, ``uplift_gain``: one row per cutoff 0..n."""
    ys, ts = _sorted_arrays(y, treated, score)
    n_t = np.concatenate([[0], np.cumsum(ts)])
    n_c = np.concatenate([[0], np.cumsum(~ts)])
    y_t = np.concatenate([[0.0], np.cumsum(np.where(ts, ys, 0.0))])
    y_c = np.concatenate([[0.0], np.cumsum(np.where(ts, 0.0, ys))])
    safe_c = np.maximum(n_c, 1)
    safe_t = np.maximum(n_t, 1)
    qini = y_t - np.where(n_c > 0, y_c * n_t / safe_c, 0.0)
    both = (n_t > 0) & (n_c > 0)
    gain = np.where(both, (y_t / safe_t - y_c / safe_c) * (n_t + n_c), 0.0)
    n = len(ys)
    return pd.DataFrame(
        {"fraction": np.arange(n + 1) / max(n, 1), "qini": qini, "uplift_gain": gain}
    )


def qini_coefficient(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area between the Qini curve and the random line (see the module docstring)."""
    curve = qini_curve(y, treated, score)
    area = float(np.trapezoid(curve["qini"], curve["fraction"]))
    return area - float(curve["qini"].iloc[-1]) / 2.0


def auuc(y: np.ndarray, treated: np.ndarray, score: np.ndarray) -> float:
    """Area under the uplift (cumulative gain) curve over the fraction targeted."""
    curve = qini_curve(y, treated, score)
    return float(np.trapezoid(curve["uplift_gain"], curve["fraction"]))


def uplift_at_k(y: np.ndarray, treated: np.ndarray, score: np.ndarray, k: float) -> float:
    """Mean treated minus mean control outcome among the top ``k`` share of scores."""
    if not 0 < k <= 1:
        raise ValueError(f"k must be a share in (0, 1], got {k}")
    ys, ts = _sorted_arrays(y, treated, score)
    top = max(1, int(np.ceil(k * len(ys))))
    ys, ts = ys[:top], ts[:top]
    if ts.all() or not ts.any():
        return float("nan")
    return float(ys[ts].mean() - ys[~ts].mean())


def randomized_contrasts(
    frame: pd.DataFrame,
    oof_uplift: pd.DataFrame,
    *,
    k: float = 0.3,
    outcome_column: str = "revenue",
) -> pd.DataFrame:
    """Per incentive, on randomized rows: that incentive against the other randomized ones.

    ``frame`` holds ``incentive``, ``randomized`` and the outcome; ``oof_uplift`` holds
    out-of-fold predictions (one column per incentive) for the same rows, same order. The
    score ranks by the incentive's predicted uplift minus the mean of the others'.
    Columns: ``incentive, n_treated, n_control, qini, auuc, uplift_at_k``.
    """
    names = [c for c in oof_uplift.columns if c not in ("partner_id", "row")]
    rnd = frame["randomized"].to_numpy(dtype=bool) & frame["incentive"].isin(names).to_numpy()
    inc = frame["incentive"].to_numpy(dtype=object)[rnd]
    y = frame[outcome_column].to_numpy(dtype=np.float64)[rnd]
    pred = oof_uplift[names].to_numpy(dtype=np.float64)[rnd]
    rows = []
    for j, name in enumerate(names):
        treated = inc == name
        others = np.delete(pred, j, axis=1)
        score = pred[:, j] - (others.mean(axis=1) if others.shape[1] else 0.0)
        ok = treated.any() and (~treated).any()
        rows.append(
            {
                "incentive": name,
                "n_treated": int(treated.sum()),
                "n_control": int((~treated).sum()),
                "qini": qini_coefficient(y, treated, score) if ok else float("nan"),
                "auuc": auuc(y, treated, score) if ok else float("nan"),
                "uplift_at_k": uplift_at_k(y, treated, score, k) if ok else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def policy_net_value(choice: pd.DataFrame, effects: pd.DataFrame) -> float:
    """True total net of a choice (``partner_id``, ``incentive``) under ground-truth effects.

    ``effects`` has one quarter's rows of ``partner_id, incentive, expected_uplift,
    expected_cost``; ``none`` (or an incentive with no truth row) is worth 0.
    """
    truth = effects.assign(net=effects["expected_uplift"] - effects["expected_cost"])
    truth = truth.set_index(["partner_id", "incentive"])["net"]
    keys = pd.MultiIndex.from_arrays(
        [choice["partner_id"].astype(str).to_numpy(), choice["incentive"].astype(str).to_numpy()]
    )
    truth.index = truth.index.set_levels([lvl.astype(str) for lvl in truth.index.levels])
    net = truth.reindex(keys).to_numpy(dtype=np.float64, copy=True)
    net[choice["incentive"].astype(str).to_numpy() == NONE] = 0.0
    return float(np.nansum(net))


def oracle_net_value(effects: pd.DataFrame) -> float:
    """Total net of the best option per partner (``none`` = 0) under ground-truth effects."""
    net = effects["expected_uplift"] - effects["expected_cost"]
    best = net.groupby(effects["partner_id"].astype(str)).max()
    return float(best.clip(lower=0).sum())


def ndcg_at_k(ranked_ids: np.ndarray, relevance: Mapping[str, float] | pd.Series, k: int) -> float:
    """NDCG@k with linear gains ``rel / log2(position + 1)``; negative relevance counts 0.

    ``ranked_ids`` is best first; ``relevance`` maps every id to its true value (missing: 0).
    """
    rel = pd.Series(relevance, dtype=np.float64).clip(lower=0)
    rel.index = rel.index.astype(str)
    got = rel.reindex(pd.Index(np.asarray(ranked_ids).astype(str))[:k]).fillna(0.0).to_numpy()
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.sort(rel.to_numpy())[::-1][:k]
    idcg = float(np.sum(ideal * discount[: len(ideal)]))
    if idcg == 0:
        return float("nan")
    return float(np.sum(got * discount[: len(got)]) / idcg)


def uplift_by_segment(
    uplift: pd.DataFrame, segments: pd.DataFrame, columns: tuple[str, ...]
) -> pd.DataFrame:
    """Mean predicted uplift per incentive for each level of each segment column (artifact).

    Columns: ``segment, level, partners`` then one per incentive.
    """
    parts = []
    for col in columns:
        if col not in segments.columns:
            continue
        level = segments[col].astype("string").fillna("missing").to_numpy()
        grouped = uplift.groupby(level, sort=True)
        part = grouped.mean().assign(partners=grouped.size())
        part = part.rename_axis("level").reset_index().assign(segment=col)
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["segment", "level", "partners", *uplift.columns])
    out = pd.concat(parts, ignore_index=True)
    return out[["segment", "level", "partners", *uplift.columns]]


def plot_qini(curves: Mapping[str, pd.DataFrame]):  # -> matplotlib Figure
    """One Qini curve per name, with the random line; returns the figure (for MLflow)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(curve["fraction"], curve["qini"], label=name)
        ax.plot([0, 1], [0, curve["qini"].iloc[-1]], linestyle=":", color="grey", linewidth=0.8)
    ax.set_xlabel("share of partners targeted (by predicted uplift)")
    ax.set_ylabel("Qini (incremental revenue)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
