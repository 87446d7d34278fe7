"""Incentive history features: incentives received in trailing quarters, by type, and spend.

An incentive is dated by ``starts_on`` (DATA_CONTRACT.md: it belongs to the quarter that
contains its start); ``ends_on`` is not read, so an incentive running past the as-of date
tells nothing about its end. A ``none`` row (a randomized holdout, the control arm of a
test) is no incentive: it counts nowhere here. Per-type counts use the fitted vocabulary
(``FeatureSpec.incentive_types``); totals, spend and recency use every incentive.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.data import Dataset, incentive_grants
from features.families.vocabulary import slugs
from features.families.windows import (
    CutoffGrid,
    cumulative_sums,
    last_event_day,
    make_events,
    quarters_between,
    window_sums,
)

WINDOWS = (1, 4)


def build_incentive_history(
    ds: Dataset, grid: CutoffGrid, *, incentive_types: tuple[str, ...]
) -> pd.DataFrame:
    """Incentive features for every grid row (rows aligned with the grid)."""
    inc = incentive_grants(ds.incentives)  # a `none` holdout row is no incentive
    events = make_events(
        grid.partner_ids,
        inc,
        "starts_on",
        {"count": np.ones(len(inc)), "cost": inc["cost"].to_numpy(dtype=np.float64)},
        kind_column="incentive",
        vocabulary=incentive_types,
    )
    assert events.kind is not None
    cols: dict[str, np.ndarray] = {}
    for i, slug in enumerate(slugs(incentive_types).values()):
        sums = window_sums(grid, events.subset(events.kind == i), max(WINDOWS))["count"]
        for w in WINDOWS:
            cols[f"incentive_{slug}_count_{w}q"] = sums[:, :w].sum(axis=1)

    totals = window_sums(grid, events, max(WINDOWS))
    for w in WINDOWS:
        cols[f"incentive_count_{w}q"] = totals["count"][:, :w].sum(axis=1)
        cols[f"incentive_cost_{w}q"] = totals["cost"][:, :w].sum(axis=1)
    cum = cumulative_sums(grid, events)
    cols["incentive_count_cum"] = cum["count"]
    cols["incentive_cost_cum"] = cum["cost"]
    cols["quarters_since_last_incentive"] = quarters_between(
        grid.calendar, grid.q0, last_event_day(grid, events)
    )
    return pd.DataFrame(cols, index=pd.RangeIndex(len(grid)))
