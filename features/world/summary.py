"""Summary statistics of a simulated world, as plain JSON-ready values."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.world.truth import best_incentives


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


def _shares(series: pd.Series) -> dict[str, float]:
    return {
        str(k): round(float(v), 4)
        for k, v in series.value_counts(normalize=True).sort_index().items()
    }


def summarize(
    tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame], as_of: pd.Timestamp
) -> dict[str, object]:
    """Rows, mix, revenue concentration, revenue sources, incentives, confounding, oracle."""
    partners, bookings = tables["partners"], tables["bookings"]
    opportunities, incentives = tables["opportunities"], tables["incentives"]
    holdouts = incentives["incentive"] == "none"  # randomized `none` rows: no grant
    incentives = incentives.loc[~holdouts]
    amount = bookings["amount"]
    total = float(amount.sum())
    per_partner = (
        bookings.groupby("partner_id")["amount"]
        .sum()
        .reindex(partners["partner_id"], fill_value=0.0)
    )
    top_n = max(1, int(np.ceil(0.1 * len(per_partner))))
    top_share = float(per_partner.nlargest(top_n).sum() / total) if total else 0.0

    last_year = bookings[bookings["booked_on"] > as_of - pd.DateOffset(years=1)]
    annual = last_year.groupby("partner_id")["amount"].sum()
    annual = annual[annual > 0]

    closed = opportunities[opportunities["status"] != "open"]
    cycle = (closed["closed_on"] - closed["created_on"]).dt.days

    assignments = truth["assignments"].merge(
        truth["partners"][["partner_id", "size"]], on="partner_id", how="left"
    )
    treated = assignments["incentive"] != "none"

    def mean_size(mask: pd.Series) -> float:
        return round(float(assignments.loc[mask, "size"].mean()), 2)

    random_rows = assignments["randomized"]
    effects = truth["incentive_effects"]
    best = best_incentives(effects[effects["horizon"] == 1])
    policy = incentives.loc[~incentives["randomized"], "incentive"]
    usual = str(policy.mode().iloc[0]) if len(policy) else "none"
    joined = partners["joined_on"]
    first_quarter = truth["revenue"]["quarter_start"].min()
    return {
        "as_of": as_of.date().isoformat(),
        "rows": {name: int(len(frame)) for name, frame in tables.items()},
        "partners_by_tier": _counts(partners["tier"]),
        "partners_by_type": _counts(partners["partner_type"]),
        "partners_by_region": _counts(partners["region"]),
        "partners_joined_during_period": int((joined >= first_quarter).sum()),
        "partners_joined_last_4_quarters": int((joined > as_of - pd.DateOffset(years=1)).sum()),
        "partners_churned_by_as_of": int((truth["partners"]["churn_quarter"] <= as_of).sum()),
        "revenue_total": round(total, 2),
        "annual_revenue_last_year": {
            "median": round(float(annual.median()), 2) if len(annual) else 0.0,
            "p90": round(float(annual.quantile(0.9)), 2) if len(annual) else 0.0,
            "max": round(float(annual.max()), 2) if len(annual) else 0.0,
        },
        "top10pct_partner_revenue_share": round(top_share, 4),
        "won_opportunity_revenue_share": round(
            float(amount[bookings["opportunity_id"].notna()].sum() / total) if total else 0.0, 4
        ),
        "credit_note_share_of_bookings": round(float((amount < 0).mean()), 4),
        "credit_note_share_of_revenue": round(
            float(-amount[amount < 0].sum() / amount[amount > 0].sum()), 4
        ),
        "opportunities_by_status": _counts(opportunities["status"]),
        "win_rate": round(float((closed["status"] == "won").mean()), 4),
        "median_sales_cycle_days": float(cycle.median()) if len(cycle) else 0.0,
        "incentives_by_type": _counts(incentives["incentive"]),
        "incentive_rows_randomized_share": round(float(incentives["randomized"].mean()), 4),
        "holdout_rows": int(holdouts.sum()),
        "decisions_randomized_share": round(float(random_rows.mean()), 4),
        "confounding_mean_size": {
            "policy_treated": mean_size(treated & ~random_rows),
            "policy_untreated": mean_size(~treated & ~random_rows),
            "randomized_treated": mean_size(treated & random_rows),
            "randomized_untreated": mean_size(~treated & random_rows),
        },
        "most_common_policy_incentive": usual,
        "best_incentive_share_horizon": _shares(best["incentive"]),
        "partners_for_whom_usual_incentive_is_best": round(
            float((best["incentive"] == usual).mean()), 4
        ),
        "oracle_net_value_horizon": round(float(best["net_value"].sum()), 2),
    }
