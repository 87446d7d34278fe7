"""Plain-language names of feature columns, for explanations shown to planners."""

from __future__ import annotations

import re

_EXACT: dict[str, str] = {
    "tier": "partner tier",
    "partner_type": "partner type",
    "region": "region",
    "country": "country",
    "industry": "industry",
    "tenure_days": "days since joining",
    "tenure_quarters": "quarters since joining",
    "asof_fiscal_quarter": "fiscal quarter of the as-of date",
    "quarter_elapsed_share": "share of the current quarter elapsed",
    "horizon": "quarters ahead",
    "target_fiscal_quarter": "fiscal quarter being forecast",
    "revenue_target_q_last_year": "revenue in the same quarter last year",
    "revenue_cum": "revenue since joining",
    "quarters_since_first_booking": "quarters since first booking",
    "quarters_since_last_booking": "quarters since last booking",
    "open_count": "open opportunities",
    "open_amount": "open pipeline",
    "open_amount_close_next_q": "open pipeline expected to close next quarter",
    "open_amount_close_later": "open pipeline expected to close later",
    "open_amount_close_unknown": "open pipeline with no expected close date",
    "open_amount_overdue": "open pipeline past its expected close date",
    "open_registered_share": "share of open pipeline registered",
    "open_amount_weighted": "open pipeline weighted by win rate",
    "win_rate_8q": "win rate over the last 8 quarters",
    "segment_win_rate_8q": "segment's win rate over the last 8 quarters",
    "win_rate_shrunk_8q": "win rate (shrunk to the segment's)",
    "days_since_last_activity": "days since last activity",
    "quarters_since_last_incentive": "quarters since last incentive",
}

_WINDOW = re.compile(r"_(\d+)q$")


def _window(name: str) -> tuple[str, str]:
    """Split a trailing window (``_4q``, ``_cum``) into words."""
    m = _WINDOW.search(name)
    if m:
        n = int(m.group(1))
        return name[: m.start()], "this quarter" if n == 1 else f"last {n} quarters"
    if name.endswith("_cum"):
        return name[:-4], "to date"
    return name, ""


def describe_feature(column: str) -> str:
    """A short human name for a feature column; unknown columns come back readable."""
    if column in _EXACT:
        return _EXACT[column]
    if m := re.fullmatch(r"revenue_lag_(\d+)", column):
        k = int(m.group(1))
        return "revenue this quarter" if k == 1 else f"revenue {k - 1} quarters ago"
    if column.startswith("extra_"):
        return f"partner {column[6:].replace('_', ' ')}"
    base, window = _window(column)
    if m := re.fullmatch(r"activity_(.+)_(qty|amount)", base):
        kind, what = m.group(1).replace("_", " "), m.group(2)
        words = f"{kind} {'count' if what == 'qty' else 'amount'}"
    elif m := re.fullmatch(r"incentive_(.+)_count", base):
        words = f"{m.group(1).replace('_', ' ')} incentives"
    elif m := re.fullmatch(r"open_amount_age_(.+)", base):
        span = m.group(1).replace("d_plus", "+").replace("d", "").replace("_", "-")
        words = f"open pipeline aged {span} days"
    else:
        words = base.replace("_", " ")
    return f"{words} ({window})" if window else words
