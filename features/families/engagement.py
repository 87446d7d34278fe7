"""Engagement features: activity quantities and amounts per activity type, and recency.

Activity types come from the fitted vocabulary (``FeatureSpec.activity_types``), so a type
first seen at scoring time adds no column and breaks nothing; amount columns exist only for
types that carried money (e.g. MDF claims) in the training data. Per-type columns sum
``quantity`` (the count of events when quantity is 1) over trailing 1/2/4 quarters and over
all history (``_cum``, e.g. cumulative certifications); totals add up the known types (an
unseen type is ignored, its quantities mean nothing yet), while ``days_since_last_activity``
uses every activity, whatever its type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.data import Dataset
from features.families.vocabulary import slugs
from features.families.windows import (
    CutoffGrid,
    cumulative_sums,
    days_between,
    last_event_day,
    make_events,
    window_sums,
)

WINDOWS = (1, 2, 4)


def build_engagement(
    ds: Dataset,
    grid: CutoffGrid,
    *,
    activity_types: tuple[str, ...],
    amount_types: tuple[str, ...],
) -> pd.DataFrame:
    """Engagement features for every grid row (rows aligned with the grid)."""
    acts = ds.activities
    events = make_events(
        grid.partner_ids,
        acts,
        "occurred_on",
        {
            "qty": acts["quantity"].to_numpy(dtype=np.float64),
            "amount": acts["amount"].to_numpy(dtype=np.float64),
        },
        kind_column="activity",
        vocabulary=activity_types,
    )
    assert events.kind is not None

    cols: dict[str, np.ndarray] = {}
    active_types = np.zeros(len(grid))
    for i, (kind, slug) in enumerate(slugs(activity_types).items()):
        sub = events.subset(events.kind == i)
        sums = window_sums(grid, sub, max(WINDOWS))
        for w in WINDOWS:
            cols[f"activity_{slug}_qty_{w}q"] = sums["qty"][:, :w].sum(axis=1)
        cols[f"activity_{slug}_qty_cum"] = cumulative_sums(grid, sub)["qty"]
        if kind in amount_types:
            for w in WINDOWS:
                cols[f"activity_{slug}_amount_{w}q"] = sums["amount"][:, :w].sum(axis=1)
        active_types += sums["qty"].sum(axis=1) > 0

    totals = window_sums(grid, events.subset(events.kind >= 0), max(WINDOWS))
    for w in WINDOWS:
        cols[f"activity_qty_{w}q"] = totals["qty"][:, :w].sum(axis=1)
        cols[f"activity_amount_{w}q"] = totals["amount"][:, :w].sum(axis=1)
    cols["activity_types_active_4q"] = active_types
    cols["days_since_last_activity"] = days_between(grid.as_of, last_event_day(grid, events))
    return pd.DataFrame(cols, index=pd.RangeIndex(len(grid)))
