"""Feature families: one pure module each, ``build_x(frames, *, as_of) -> DataFrame``.

Families: ``revenue_history`` (lags, rolling stats, growth, recency, credit notes),
``pipeline_signals`` (opportunities as they stood at the as-of date), ``engagement``
(activities), ``incentive_history``, ``partner_attributes`` (attributes and tenure),
``heuristics`` (the sales-ops estimate: a baseline and a feature).
Their building blocks: ``windows`` (the (partner, as_of) grid and point-in-time sums),
``panel`` (the partner-quarter revenue panel), ``vocabulary`` (learned type names).
:mod:`features.frames` joins the families into model-ready frames.
"""

from features.families.engagement import build_engagement
from features.families.heuristics import sales_ops_estimate
from features.families.incentive_history import build_incentive_history
from features.families.panel import build_revenue_panel, quarter_revenue, revenue_events
from features.families.partner_attributes import build_partner_attributes
from features.families.pipeline_signals import build_pipeline_signals, open_pipeline
from features.families.revenue_history import build_revenue_history
from features.families.windows import CutoffGrid, window_sums

__all__ = [
    "CutoffGrid",
    "build_engagement",
    "build_incentive_history",
    "build_partner_attributes",
    "build_pipeline_signals",
    "build_revenue_history",
    "build_revenue_panel",
    "open_pipeline",
    "quarter_revenue",
    "revenue_events",
    "sales_ops_estimate",
    "window_sums",
]
