"""How much of the trees' move away from the sales-ops offset to keep, per horizon.

The boosters start from the offset and learn corrections to it. Where the training data
are thin (a short history: the 8-quarter seasonal world's first folds train on one or two
target quarters), those corrections are noise, and the forecaster ended up 3% worse in WAPE
than the offset alone. So the median is ``offset + keep_h * trees`` in model space, with
``keep_h`` in [0, 1] chosen on the held-out calibration slice to minimise the absolute
error **in money** (what WAPE counts). Where the trees earn their keep it stays at 1.

With a short history the blend may pull towards a multiple of the offset instead (the
*anchor*, ``anchors``): the offset is a plan, a mean-like level, while WAPE is won by the
median, and where revenue is lumpy the median partner-quarter books well below its plan.
"""

from __future__ import annotations

import numpy as np

from features.scoring.quantiles import forward_transform, inverse_transform

KEEP_GRID = np.linspace(0.0, 1.0, 11)


def fit_blend(
    y: np.ndarray,
    offset: np.ndarray,
    trees: np.ndarray,
    horizon: np.ndarray,
    *,
    transform: str,
    scale: float,
    anchors: tuple[float, ...] | None = None,
) -> dict[int, float] | tuple[dict[int, float], dict[int, float]]:
    """Per horizon, the share in :data:`KEEP_GRID` of ``trees`` (model space) added to
    ``offset`` whose back-transformed median has the least absolute error against ``y``
    (money); ties go to the larger share.

    With ``anchors`` (factors), the blend pulls towards a multiple of the start rather than
    the start itself, ``keep * (offset + trees) + (1 - keep) * T(factor * start)`` with
    ``T`` the transform of money: the share and the factor are chosen together per horizon
    (ties to the factor nearest 1), and the answer is ``(shares, factors)``."""
    out, scales = {}, {}
    grid = [(k, a) for a in (anchors or (1.0,)) for k in KEEP_GRID]
    start_money = inverse_transform(offset, transform, scale)
    for h in np.unique(horizon):
        rows = horizon == h
        errors = []
        for k, a in grid:
            anchor = (
                offset[rows]
                if a == 1.0
                else forward_transform(a * start_money[rows], transform, scale)
            )
            z = k * (offset[rows] + trees[rows]) + (1.0 - k) * anchor
            errors.append(np.abs(y[rows] - inverse_transform(z, transform, scale)).sum())
        best = min(
            range(len(grid)), key=lambda i: (round(errors[i], 6), abs(grid[i][1] - 1), -grid[i][0])
        )
        out[int(h)], scales[int(h)] = float(grid[best][0]), float(grid[best][1])
    return out if anchors is None else (out, scales)
