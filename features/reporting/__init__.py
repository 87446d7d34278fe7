"""What happened against what was said: the forecast ledger and channel KPIs.

- ``ledger``: :class:`ForecastLedger`, every forecast given, kept for judging later;
- ``attainment``: :func:`quota_odds`, the odds of reaching each target this quarter;
- ``kpis``: KPIs per partner and group from the features' point-in-time windows;
- ``kpi_sources``: :func:`channel_kpis`, the KPIs with start-of-quarter forecasts and MDF
  return, the one call behind ``partnercast kpis`` and ``POST /kpis``.
"""

from features.reporting.attainment import ATTAINMENT_COLUMNS, prob_at_least, quota_odds
from features.reporting.kpi_sources import SOURCE_COLUMNS, channel_kpis, ledger_forecasts
from features.reporting.kpis import GROUP_LEVELS, KPI_COLUMNS, build_partner_kpis, group_kpis
from features.reporting.ledger import ForecastLedger, display_url, forecast_rows

__all__ = [
    "ATTAINMENT_COLUMNS",
    "GROUP_LEVELS",
    "KPI_COLUMNS",
    "SOURCE_COLUMNS",
    "ForecastLedger",
    "build_partner_kpis",
    "channel_kpis",
    "display_url",
    "forecast_rows",
    "group_kpis",
    "prob_at_least",
    "quota_odds",
    "ledger_forecasts",
]
