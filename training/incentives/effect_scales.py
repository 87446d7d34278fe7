"""The scale an incentive's effect lives on: relative to expected revenue, money, or a mix.

Issue 23. A rebate's effect grows with the partner's revenue; a SPIFF, a deal-registration
bonus or an enablement pack can get a dormant partner to book a deal, and an effect
proportional to a base near zero is near zero. Each incentive's effect is modelled as a
dimensionless ``theta`` times a *reference amount* per row,

    g = (1 - alpha) * base + alpha * reference,

where ``base`` is the partner's expected revenue without an incentive (floored) and
``reference`` is one amount for every row (the training rows' mean base), so ``theta`` is
still "the effect on an average partner's revenue" and one prior serves every scale:

- ``relative`` (alpha 0): uplift ``theta * base`` (the pipeline before issue 23);
- ``mix`` (alpha 0.5): a fixed amount ``theta * reference / 2`` plus ``theta / 2`` of the
  partner's revenue (an activation effect plus a relative one);
- ``absolute`` (alpha 1): ``theta * reference`` money, whatever the partner's size.

The pseudo-outcomes are divided by ``g`` (never by a near-zero base: ``g`` is at least
``alpha * reference``, except for partners with no sign of life for a year, whose fixed
part is 0 and who weigh 0: :func:`present_partners`) and weighted by ``g^2 / base``
(capped): on the relative scale that is the base itself, the money-weighted ratio
estimator of before; on the absolute scale ``1 / base``, so the quarterly noise of the
largest partners does not decide an effect that is the same money for all.

Choice (:func:`select_scales`, called by ``UpliftModel._select_scales``), by the policy
gate's cross-fitted doubly-robust value on the partner folds the rest of the fit uses: per
fold, every incentive's average on every scale is re-estimated on the other folds (history
and randomized rows, combined and shrunk as the final averages are), the averages of one
combination of scales choose each held-out row's option among all incentives, and the
rows' AIPW pseudo-outcomes minus cost score it. The best combination wins, or, within one
partner-clustered standard error of the paired difference from it, the one with the most
relative scales, then the most pure ones (an incentive that does nothing, or data that
cannot tell, keep the scale every world before issue 23 was measured on). Session 9: an
incentive may leave the relative scale at all only where another scale beats it on its own
decisions against ``none`` by one standard error (``own_gate``): where every scale gives it
to the same rows (no costs), the competition alone picked scales by which incentive's noisy
level led (issue 17's all-relative test world: promo on ``mix``, third on ``absolute``).

Each incentive's points in that comparison are its posterior on each scale with the other
incentives on the relative one, so its scale moves only its own decisions, not the others'
through the shared prior's spread (the levels' sizes differ by scale: on the 4-quarter
young world a SPIFF on the absolute scale, given to no one, once shrank the other
incentives' averages and cost 0.03 of the oracle). A row's net counts in money up to the
median partner's expected revenue and relative to its size beyond
(``UpliftModel.scale_value_quantile``): in money alone the few largest partners' quarterly
noise decides every comparison, while the scales differ most on the small partners.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

SCALES: Mapping[str, float] = {"relative": 0.0, "mix": 0.5, "absolute": 1.0}
"""Each effect scale's share ``alpha`` of the fixed reference amount."""


def reference_amount(
    base: np.ndarray, reference: float, alpha: float, present: np.ndarray | None = None
) -> np.ndarray:
    """``g = (1 - alpha) * base + alpha * reference`` per row (see the module docstring);
    the fixed part only where ``present`` (default everywhere)."""
    fixed = alpha * reference if present is None else alpha * reference * present
    return (1.0 - alpha) * base + fixed


def present_partners(X: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Rows of partners that show any sign of life in ``columns`` (revenue, activities,
    pipeline of the last quarters; the ones present in ``X``; everyone when none is): a
    partner with no revenue, no activity and no pipeline for a year has left the channel,
    and a fixed amount of money is not what an incentive adds to it."""
    have = [c for c in columns if c in X.columns]
    if not have:
        return np.ones(len(X), dtype=bool)
    values = X[have].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy()
    return (values > 0).any(axis=1)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0``, else 0 (rows whose reference amount is 0 weigh 0)."""
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def scale_weights(base: np.ndarray, g: np.ndarray, cap_quantile: float | None) -> np.ndarray:
    """Weights of the pseudo-outcomes on a scale: ``g^2 / base`` capped at its
    ``cap_quantile`` (the base itself on the relative scale)."""
    w = g * g / base
    if cap_quantile is not None:
        w = np.minimum(w, np.quantile(w, cap_quantile))
    return w


def select_scales(
    held_out_net: Callable[[tuple[int, ...]], np.ndarray],
    phi: np.ndarray,
    base: np.ndarray,
    reference: float,
    cost: np.ndarray,
    groups: np.ndarray,
    *,
    names: Sequence[str] = tuple(SCALES),
    n_se: float = 1.0,
    max_combinations: int = 729,
    capped: bool = True,
    own_gate: bool = True,
) -> tuple[list[int], dict[int, pd.DataFrame]]:
    """The scale of every incentive's effect, by cross-fitted DR policy value.

    ``held_out_net(pick)``: for one scale index per incentive, the (rows, incentives)
    predicted net of every row from the averages its fold did not see (``-inf`` where an
    incentive cannot be given); ``phi``: (rows, incentives) AIPW pseudo-outcomes in money;
    ``base``: expected revenue without an incentive (floored, > 0); ``cost``: (rows,
    incentives) learned cost. Each row gets the incentive with the best positive predicted
    net, and its pseudo-outcome minus cost scores the choice: the incentives compete, so a
    scale that makes one look good where another is better loses value. Every combination
    of scales is scored (at most ``max_combinations``; beyond, one scale for all); the best
    wins, or, within ``n_se`` partner-clustered standard errors of the paired difference
    from it, the one with the most relative scales (every world measured before issue 23
    had only those), then the most pure ones (relative or absolute: a mix is two effects
    in one, kept where the data show it), then the highest value. An incentive that no
    scale gives to anyone keeps the relative scale: its scale would move the others only
    through the shared prior's spread, not through a decision of its own. ``own_gate``: only
    combinations whose incentives each beat the relative scale on their own decisions
    against ``none`` (given where their own predicted net is positive) by ``n_se``
    standard errors, or stay relative, are scored. ``capped``: a row's net
    counts with ``min(1, reference / base)``, in money up to the reference amount's size
    and relative to its size beyond: in money
    alone the quarterly noise of the few largest partners (pseudo-outcomes of millions)
    decides every comparison, while the scales differ most on the small partners.

    Returns each incentive's scale index and, per incentive index, a table per scale (the
    others at their chosen scales): ``scale``, ``crossfit_dr_value`` (the capped value
    summed over the rows), ``se_vs_relative`` (partner-clustered, of the paired difference
    from the relative scale), ``rows_given`` (rows that get this incentive) and ``chosen``.
    """
    n, k = phi.shape
    names = list(names)
    first = names.index("relative") if "relative" in names else 0
    value_weight = np.minimum(1.0, reference / base) if capped else np.ones(n)

    def clustered(values: np.ndarray) -> float:
        by_partner = np.bincount(groups, weights=values)
        return float(by_partner.std() * np.sqrt(len(by_partner)))

    def gains(pick: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        net = held_out_net(pick)
        best = np.argmax(net, axis=1)
        give = net[np.arange(n), best] > 0
        out = np.zeros(n)
        rows = np.flatnonzero(give)
        out[rows] = (phi[rows, best[rows]] - cost[rows, best[rows]]) * value_weight[rows]
        return out, np.where(give, best, -1)

    # an incentive leaves the relative scale only if, on its own decisions against `none`
    # (given where its own predicted net is positive, whatever the others), some other scale
    # beats the relative one by ``n_se`` standard errors of the paired difference: where
    # every scale gives it to the same rows (no costs, or a level too small to clear them)
    # the data say nothing of its scale, and the competition among the incentives alone
    # would pick a scale by which incentive's noisy level happens to lead
    free = [True] * k
    if own_gate:
        own = [held_out_net(tuple([i] * k)) for i in range(len(names))]
        for j in range(k):
            val = []
            for i in range(len(names)):
                net = own[i][:, j]
                val.append(np.where(net > 0, (phi[:, j] - cost[:, j]) * value_weight, 0.0))
            free[j] = any(
                (val[i] - val[first]).sum() > n_se * clustered(val[i] - val[first])
                for i in range(len(names))
                if i != first
            )
    options = [range(len(names)) if free[j] else [first] for j in range(k)]
    combos = list(itertools.product(*options))
    if len(combos) > max_combinations:  # many incentives: one scale for all at a time
        combos = [tuple(i if free[j] else first for j in range(k)) for i in range(len(names))]
    scored = {c: gains(c) for c in combos}
    values = {c: float(g[0].sum()) for c, g in scored.items()}
    top = max(combos, key=lambda c: values[c])
    near = [
        c
        for c in combos
        if values[c] >= values[top] - n_se * clustered(scored[c][0] - scored[top][0])
    ]
    pure = [i for i, name in enumerate(names) if name in ("relative", "absolute")]
    current = list(
        max(
            near,
            key=lambda c: (sum(i == first for i in c), sum(i in pure for i in c), values[c]),
        )
    )
    tables: dict[int, pd.DataFrame] = {}

    def variants(j: int) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        for i in range(len(names)):
            pick = current.copy()
            pick[j] = i
            out.append(scored[tuple(pick)] if tuple(pick) in scored else gains(tuple(pick)))
        return out

    # an incentive that no scale gives to anyone keeps the relative one: its scale would
    # only move the others through the shared prior's spread (the levels' sizes differ by
    # scale), not through any decision of its own
    for j in range(k):
        if all(not (c[1] == j).any() for c in variants(j)):
            current[j] = first
    for j in range(k):
        cand = variants(j)
        gain = np.stack([c[0] for c in cand], axis=1)
        tables[j] = pd.DataFrame(
            {
                "scale": names,
                "crossfit_dr_value": gain.sum(axis=0),
                "se_vs_relative": [
                    clustered(gain[:, i] - gain[:, first]) for i in range(len(names))
                ],
                "rows_given": [int((c[1] == j).sum()) for c in cand],
                "chosen": np.arange(len(names)) == current[j],
            }
        )
    return current, tables
