"""Money-aware row weights for a loss taken in asinh space.

WAPE counts money: a 10% miss on a 2M partner costs as much as a 10% miss on a hundred 20k
partners. The boosters learn ``asinh(y / scale)``, where an error of ``dz`` is worth about
``|y| * dz`` in money once ``|y|`` is well above ``scale``, so a loss that weighs every
partner-quarter alike spends the trees' capacity on the many small partners. Weighting each
row by its partner's size **as known at the cutoff** (never by the target) brings the loss
back towards money; the power tempers it (1 = money, 0 = every row alike) and the cap keeps a
handful of giants from owning the fit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def money_weights(level: ArrayLike, *, power: float, floor: float, cap: float = 20.0) -> np.ndarray:
    """Weights ``(max(|level|, floor) / median) ** power``, capped at ``cap``, mean 1.

    ``level`` is a point-in-time size per row (e.g. the sales-ops estimate); NaN counts as 0.
    ``floor`` (the transform's scale) keeps rows of tiny or new partners from weighing
    nothing. With ``power`` 0 every weight is 1.

    >>> money_weights([0, 1000, 4000, 16000], power=0.5, floor=1000, cap=20).round(3).tolist()
    [0.5, 0.5, 1.0, 2.0]
    """
    size = np.maximum(np.abs(np.nan_to_num(np.asarray(level, dtype=float), nan=0.0)), floor)
    if power == 0 or size.size == 0:
        return np.ones(size.size)
    relative = (size / np.median(size)) ** power
    weights = np.minimum(relative, cap)
    return weights / weights.mean()
