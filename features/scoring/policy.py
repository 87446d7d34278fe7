"""Next-best incentive per partner: the best expected net, optionally within a budget.

Without a budget each partner gets the incentive with the highest ``uplift - cost``, or
``none`` when no incentive pays. With a budget the choice is a multiple-choice knapsack (at
most one incentive per partner, summed cost within the budget, total net maximal), solved
exactly by HiGHS through ``scipy.optimize.milp``; a hull greedy is the fallback and the
floor (the better of the two is kept), and the summed cost is checked against the budget in
plain floating point after rounding, so the budget holds exactly, never "up to a tolerance".
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Collection, Iterator

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array, vstack

from features.names import NONE

log = logging.getLogger(__name__)

RECOMMEND_COLUMNS = ("partner_id", "incentive", "expected_uplift", "cost", "expected_net")


def best_by_net(net: np.ndarray) -> np.ndarray:
    """Per row, the column with the highest net, or -1 (none) when no net is positive."""
    if net.shape[1] == 0:
        return np.full(net.shape[0], -1, dtype=np.int64)
    best = np.argmax(net, axis=1)
    return np.where(net[np.arange(len(net)), best] > 0, best, -1).astype(np.int64)


def _spent(choice: np.ndarray, cost: np.ndarray) -> float:
    """Summed cost of the picks: the larger of the exactly rounded sum and numpy's sum of
    the full per-partner column (how a caller adds up the output), so either is in budget."""
    picked = choice >= 0
    column = np.zeros(len(choice))
    column[picked] = cost[np.flatnonzero(picked), choice[picked]]
    return max(math.fsum(column), float(np.sum(column)), float(pd.Series(column).sum()))


def _gain(choice: np.ndarray, net: np.ndarray) -> float:
    picked = choice >= 0
    return float(np.sum(net[np.flatnonzero(picked), choice[picked]]))


def _repair(choice: np.ndarray, net: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Drop the least efficient picks until the summed cost is within the budget."""
    choice = choice.copy()
    while _spent(choice, cost) > budget:
        rows = np.flatnonzero(choice >= 0)
        c = cost[rows, choice[rows]]
        ratio = np.where(c > 0, net[rows, choice[rows]] / np.where(c > 0, c, 1.0), np.inf)
        choice[rows[np.argmin(ratio)]] = -1
    return choice


def greedy_knapsack(net: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """Multiple-choice knapsack by upgrades along each partner's upper convex hull.

    Each partner's options with positive net form a hull in (cost, net); the increments
    between hull points are taken by decreasing net per unit cost while they fit.
    """
    n = net.shape[0]
    steps: list[tuple[float, int, int, int]] = []  # (-efficiency, row, from, to)
    for i in range(n):
        opts = [j for j in range(net.shape[1]) if net[i, j] > 0 and cost[i, j] <= budget]
        opts.sort(key=lambda j: (cost[i, j], -net[i, j]))
        hull: list[int] = []
        for j in opts:
            if hull and net[i, j] <= net[i, hull[-1]]:
                continue
            while hull:
                prev_c = cost[i, hull[-2]] if len(hull) > 1 else 0.0
                prev_n = net[i, hull[-2]] if len(hull) > 1 else 0.0
                last_eff = (net[i, hull[-1]] - prev_n) / max(cost[i, hull[-1]] - prev_c, 1e-12)
                new_eff = (net[i, j] - prev_n) / max(cost[i, j] - prev_c, 1e-12)
                if new_eff >= last_eff:
                    hull.pop()
                else:
                    break
            hull.append(j)
        prev, prev_c, prev_n = -1, 0.0, 0.0
        for j in hull:
            eff = (net[i, j] - prev_n) / max(cost[i, j] - prev_c, 1e-12)
            steps.append((-eff, i, prev, j))
            prev, prev_c, prev_n = j, cost[i, j], net[i, j]
    steps.sort()
    choice = np.full(n, -1, dtype=np.int64)
    left = float(budget)
    for _, i, frm, to in steps:
        if choice[i] != frm:
            continue  # an earlier step of this partner did not fit
        extra = cost[i, to] - (cost[i, frm] if frm >= 0 else 0.0)
        if extra <= left:
            choice[i] = to
            left -= extra
    return _repair(choice, net, cost, budget)


@contextlib.contextmanager
def _native_stdout_to_devnull() -> Iterator[None]:
    """HiGHS' MIP code prints debug lines straight to file descriptor 1, which would corrupt
    a CLI's stdout (results only); silence the descriptor for the duration of the solve."""
    fd = 1  # the C library's stdout, whatever Python's sys.stdout is
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def milp_knapsack(
    net: np.ndarray, cost: np.ndarray, budget: float, *, time_limit: float = 60.0
) -> np.ndarray | None:
    """Exact multiple-choice knapsack with HiGHS; None when it finds no solution in time."""
    rows, cols = np.nonzero((net > 0) & (cost <= budget))
    if rows.size == 0:
        return np.full(net.shape[0], -1, dtype=np.int64)
    m = rows.size
    one_each = csr_array((np.ones(m), (rows, np.arange(m))), shape=(net.shape[0], m))
    spend = csr_array(cost[rows, cols][None, :])
    upper = np.concatenate([np.ones(net.shape[0]), [budget]])
    with _native_stdout_to_devnull():
        result = milp(
            c=-net[rows, cols],
            constraints=LinearConstraint(vstack([one_each, spend]), -np.inf, upper),
            integrality=np.ones(m),
            bounds=Bounds(0, 1),
            options={"time_limit": time_limit, "mip_rel_gap": 1e-9},
        )
    if result.x is None:
        log.warning("milp found no solution (%s); using the greedy", result.message)
        return None
    choice = np.full(net.shape[0], -1, dtype=np.int64)
    on = result.x > 0.5
    choice[rows[on]] = cols[on]
    return _repair(choice, net, cost, budget)


def choose_within_budget(net: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """The better of the exact MILP and the greedy; summed cost never above ``budget``."""
    if budget < 0 or not np.isfinite(budget):
        raise ValueError(f"budget must be a finite number >= 0, got {budget}")
    greedy = greedy_knapsack(net, cost, budget)
    exact = milp_knapsack(net, cost, budget)
    choice = greedy if exact is None or _gain(greedy, net) > _gain(exact, net) else exact
    assert _spent(choice, cost) <= budget
    return choice


def recommend_incentives(
    uplift: pd.DataFrame,
    costs: pd.DataFrame,
    partner_ids: pd.Series | np.ndarray,
    *,
    budget: float | None = None,
    allowed: Collection[str] | None = None,
    interval: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """One row per partner in the CLI contract's columns, plus ``uplift_<i>``/``cost_<i>``.

    ``uplift`` (rows aligned with ``partner_ids``) has one column per incentive the uplift
    model learned; only those can be recommended (a cost for any other incentive is
    ignored), further limited to ``allowed`` when given. ``costs`` must hold a column for
    each of them (a learned cost, or an override). ``uplift`` should be the corrected
    (shrunk) estimates: they choose, within the budget, and are reported.

    With ``interval`` (low and high uplift frames like ``uplift``) the output adds the 80 %
    interval of the chosen option, ``expected_uplift_low, expected_uplift_high,
    expected_net_low, expected_net_high`` (0 for ``none``), and ``p10_uplift_<i>``/
    ``p90_uplift_<i>`` for every incentive (names that do not start with ``uplift_``, which
    callers read as one column per incentive).
    """
    names = [str(c) for c in uplift.columns]
    missing = [n for n in names if n not in costs.columns]
    if missing:
        raise ValueError(f"no cost for incentives {missing}")
    if allowed is not None:
        unknown = sorted(set(allowed) - set(names) - {NONE})
        if unknown:
            log.warning("allowed incentives never seen in training are ignored: %s", unknown)
    options = [n for n in names if allowed is None or n in set(allowed)]
    u = uplift[names].to_numpy(dtype=np.float64)
    c = costs[names].to_numpy(dtype=np.float64)
    pick = [names.index(n) for n in options]
    net = u[:, pick] - c[:, pick]
    if budget is None:
        choice = best_by_net(net)
    else:
        choice = choose_within_budget(net, c[:, pick], float(budget))
    chosen = np.flatnonzero(choice >= 0)
    col = np.asarray(pick, dtype=np.int64)[choice[chosen]]
    exp_uplift = np.zeros(len(u))
    exp_cost = np.zeros(len(u))
    exp_uplift[chosen] = u[chosen, col]
    exp_cost[chosen] = c[chosen, col]
    incentive = np.full(len(u), NONE, dtype=object)
    incentive[chosen] = np.asarray(names, dtype=object)[col]
    out = pd.DataFrame(
        {
            "partner_id": pd.array(np.asarray(partner_ids), dtype="string"),
            "incentive": pd.array(incentive, dtype="string"),
            "expected_uplift": exp_uplift,
            "cost": exp_cost,
            "expected_net": exp_uplift - exp_cost,
        }
    )
    for j, name in enumerate(names):
        out[f"uplift_{name}"] = u[:, j]
    for j, name in enumerate(names):
        out[f"cost_{name}"] = c[:, j]
    if interval is not None:
        lo, hi = (frame[names].to_numpy(dtype=np.float64) for frame in interval)
        for label, bound in (("low", lo), ("high", hi)):
            chosen_bound = np.zeros(len(u))
            chosen_bound[chosen] = bound[chosen, col]
            out[f"expected_uplift_{label}"] = chosen_bound
            out[f"expected_net_{label}"] = chosen_bound - exp_cost
        for j, name in enumerate(names):
            out[f"p10_uplift_{name}"] = lo[:, j]
        for j, name in enumerate(names):
            out[f"p90_uplift_{name}"] = hi[:, j]
    if budget is not None:
        log.info("budget %.2f: spent %.2f on %d partners", budget, out["cost"].sum(), chosen.size)
    return out
