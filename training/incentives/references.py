"""Reference incentive policies a recommender must be judged against, scored on the truth.

A recommender's net value means little alone: on the world of issue 14 it reached 0.48 of
the oracle's, exactly what "everyone gets that incentive" earns, while knowing only each
incentive's true average effect within partner segments would have reached 0.82-0.85.
These references bracket a model from below (no knowledge) and above (partial and full
knowledge of the true effects), each with and without a budget:

- ``none``, ``everyone gets <the most common incentive>``, ``random`` (uniform over
  ``none`` and every incentive): what needs no model;
- ``true average effect``, ``true segment effect``: policies that know each incentive's
  true relative effect (money-weighted: summed uplift / summed revenue without an
  incentive) over all partners, or within each segment (partner type x tier x region),
  applied to each partner's true revenue without an incentive, minus its true cost; where
  the truth has a part of the uplift that is money whatever the size
  (``expected_uplift_fixed``, issue 23), that part's average is known as money and the
  ratio is of the rest;
- ``oracle``: every partner's true best option.

The budget is ``budget_share`` (25 %) of what the unconstrained oracle spends; budgeted
policies allocate it by net per dollar with :func:`features.scoring.policy.choose_within_budget`
(the random and "everyone" policies hand out in random order until it is spent). A
policy's value is its true net: expected revenue under the chosen incentive minus under
``none``, minus expected cost, summed over partners (``_truth/incentive_effects.csv``,
horizon 1). Budgeted shares are of the oracle within the same budget.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.scoring.policy import best_by_net, choose_within_budget

NONE = "none"
BUDGET_SHARE = 0.25


@dataclass(frozen=True)
class TruthMatrices:
    """One quarter's ground truth as (partners x incentives) arrays, ``none`` excluded."""

    partner_ids: np.ndarray
    incentives: list[str]
    base: np.ndarray  # expected revenue without an incentive, per partner
    uplift: np.ndarray
    cost: np.ndarray
    fixed: np.ndarray | None = None  # the uplift's part in money whatever the size (or none)

    @property
    def net(self) -> np.ndarray:
        return self.uplift - self.cost

    @classmethod
    def from_effects(cls, effects: pd.DataFrame) -> TruthMatrices:
        """From ``incentive_effects`` rows of one quarter (``partner_id, incentive,
        expected_revenue, expected_uplift, expected_cost``)."""
        frame = effects.astype({"partner_id": str, "incentive": str})

        def wide(column: str) -> pd.DataFrame:
            return frame.pivot(index="partner_id", columns="incentive", values=column)

        revenue = wide("expected_revenue")
        names = [c for c in revenue.columns if c != NONE]
        fixed = None
        if "expected_uplift_fixed" in frame.columns:
            fixed = wide("expected_uplift_fixed")[names].to_numpy(dtype=np.float64)
        return cls(
            partner_ids=revenue.index.to_numpy(dtype=object),
            incentives=names,
            base=revenue[NONE].to_numpy(dtype=np.float64),
            uplift=wide("expected_uplift")[names].to_numpy(dtype=np.float64),
            cost=wide("expected_cost")[names].to_numpy(dtype=np.float64),
            fixed=fixed,
        )

    def choice_index(self, choice: pd.DataFrame) -> np.ndarray:
        """Column of each partner's chosen incentive (-1 for ``none`` or no row)."""
        picked = choice.astype({"partner_id": str, "incentive": str}).set_index("partner_id")
        names = picked["incentive"].reindex(self.partner_ids).fillna(NONE).to_numpy()
        lookup = {name: j for j, name in enumerate(self.incentives)}
        return np.array([lookup.get(n, -1) for n in names], dtype=np.int64)

    def value(self, pick: np.ndarray) -> tuple[float, float, int]:
        """True net, true spend and number of partners with an incentive of a pick."""
        on = np.flatnonzero(pick >= 0)
        return (
            float(self.net[on, pick[on]].sum()),
            float(self.cost[on, pick[on]].sum()),
            int(on.size),
        )


def known_effect_net(truth: TruthMatrices, groups: np.ndarray) -> np.ndarray:
    """Estimated net of each incentive if only each group's money-weighted true relative
    effect were known: ``sum(uplift) / sum(base)`` within the group, times the partner's
    base, minus its cost. With ``truth.fixed`` (issue 23) the ratio is of the uplift
    without its money part, and the group's mean money part is added."""
    codes, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    base_sum = np.bincount(inverse, weights=truth.base, minlength=codes.size)
    k = len(truth.incentives)
    fixed = np.zeros_like(truth.uplift) if truth.fixed is None else truth.fixed

    def by_group(values: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [np.bincount(inverse, weights=values[:, j], minlength=codes.size) for j in range(k)]
        )

    rel = by_group(truth.uplift - fixed) / np.where(base_sum > 0, base_sum, np.inf)[:, None]
    net = rel[inverse] * truth.base[:, None] - truth.cost
    if truth.fixed is not None:
        count = np.bincount(inverse, minlength=codes.size)
        net = net + (by_group(fixed) / count[:, None])[inverse]
    return net


def _in_random_order(
    truth: TruthMatrices, wanted: np.ndarray, budget: float, rng: np.random.Generator
) -> np.ndarray:
    """Hand out each partner's wanted incentive in random order while the budget lasts."""
    pick = np.full(len(wanted), -1, dtype=np.int64)
    left = budget
    for i in rng.permutation(len(wanted)):
        j = wanted[i]
        if j >= 0 and truth.cost[i, j] <= left:
            pick[i], left = j, left - truth.cost[i, j]
    return pick


def reference_policies(
    truth: TruthMatrices,
    segments: np.ndarray,
    *,
    most_common: str,
    seed: int = 0,
    budget_share: float = BUDGET_SHARE,
) -> tuple[pd.DataFrame, float]:
    """Every reference policy's true value, without and with the budget.

    ``segments`` is each partner's segment label (aligned with ``truth.partner_ids``).
    Returns rows ``policy, budget, net, share_of_oracle, spent, partners`` and the budget.
    """
    rng = np.random.default_rng(seed)
    n, k = truth.net.shape
    everyone = np.full(
        n, truth.incentives.index(most_common) if most_common in truth.incentives else -1
    )
    estimated = {
        "true average effect": known_effect_net(truth, np.zeros(n)),
        "true segment effect": known_effect_net(truth, segments),
        "oracle": truth.net,
    }
    unconstrained = {
        NONE: np.full(n, -1),
        f"everyone gets {most_common}": everyone,
        "random": rng.integers(-1, k, n),
        **{name: best_by_net(net) for name, net in estimated.items()},
    }
    budget = budget_share * truth.value(unconstrained["oracle"])[1]
    budgeted = {
        NONE: np.full(n, -1),
        f"everyone gets {most_common}": _in_random_order(truth, everyone, budget, rng),
        "random": _in_random_order(truth, rng.integers(0, k, n), budget, rng),
        **{name: choose_within_budget(net, truth.cost, budget) for name, net in estimated.items()},
    }
    rows = []
    for within, picks in ((False, unconstrained), (True, budgeted)):
        oracle = truth.value(picks["oracle"])[0]
        for name, pick in picks.items():
            net, spent, partners = truth.value(pick)
            rows.append(
                {
                    "policy": name,
                    "budget": within,
                    "net": net,
                    "share_of_oracle": net / oracle if oracle > 0 else float("nan"),
                    "spent": spent,
                    "partners": partners,
                }
            )
    return pd.DataFrame(rows), budget
