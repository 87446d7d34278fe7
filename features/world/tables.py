"""The five contract tables as pandas frames, from the simulation's row arrays.

Column names and order follow ``features.data.dataset.COLUMNS``; ``partners`` carries
a few extra attribute columns (``employees``, ``vertical_focus``) after them, to
show that extras are allowed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.names import NONE
from features.world.activities import ACTIVITIES
from features.world.deals import Rows
from features.world.output import make_ids, strings, take_strings, to_dates
from features.world.params import WorldParams
from features.world.partners import PartnerDraw

STATUSES: tuple[str, ...] = ("open", "won", "lost")


def build_tables(
    params: WorldParams,
    partners: PartnerDraw,
    ids: pa.Array,
    opportunities: Rows,
    bookings: Rows,
    activities: Rows,
    incentives: Rows,
    holdouts: Rows | None = None,
) -> dict[str, pd.DataFrame]:
    """Contract frames: string ids, datetime64[ns] dates, float money, bool flags.

    ``holdouts`` (``incentive`` -1) are the randomized ``none`` decisions: they join the
    incentives table as ``none`` rows, merged by (``starts_on``, partner) after the grants
    of the same day, so the grants keep their order."""
    n = partners.size.size
    opp_ids = make_ids("O", opportunities["partner"].size, 7)
    products = list(params.product_lines)
    partner_frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, np.arange(n)),
            "joined_on": to_dates(partners.joined_day),
            "tier": take_strings(list(params.tiers), partners.tier_idx),
            "partner_type": take_strings(list(params.types), partners.type_idx),
            "region": take_strings(list(params.regions), partners.region_idx),
            "country": strings(partners.country),
            "industry": strings(partners.industry),
            "name": strings(partners.name),
            "employees": partners.employees,
            "vertical_focus": strings(partners.vertical),
        }
    )
    booking_frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, bookings["partner"]),
            "booked_on": to_dates(bookings["day"]),
            "amount": bookings["amount"].astype(float),
            "product_line": take_strings(products, bookings["product"]),
            "opportunity_id": take_strings(opp_ids, bookings["opportunity"]),
        }
    )
    opportunity_frame = pd.DataFrame(
        {
            "opportunity_id": take_strings(opp_ids, np.arange(len(opp_ids))),
            "partner_id": take_strings(ids, opportunities["partner"]),
            "created_on": to_dates(opportunities["created"]),
            "closed_on": to_dates(opportunities["closed"]),
            "status": take_strings(list(STATUSES), opportunities["status"]),
            "amount": opportunities["amount"].astype(float),
            "expected_close_on": to_dates(opportunities["expected_close"]),
            "registered": opportunities["registered"].astype(bool),
            "product_line": take_strings(products, opportunities["product"]),
        }
    )
    activity_frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, activities["partner"]),
            "occurred_on": to_dates(activities["day"]),
            "activity": take_strings(list(ACTIVITIES), activities["activity"]),
            "quantity": activities["quantity"],
            "amount": activities["amount"],
        }
    )
    if holdouts is not None:
        keys = ("partner", "incentive", "start", "end", "cost", "randomized")
        both = {k: np.concatenate([incentives[k], holdouts[k]]) for k in keys}
        is_none = np.r_[np.zeros(incentives["partner"].size), np.ones(holdouts["partner"].size)]
        order = np.lexsort((is_none, both["partner"], both["start"]))
        incentives = {k: v[order] for k, v in both.items()}
    names = [*params.incentive_names, NONE]  # -1 (a holdout) picks the last: none
    incentive_frame = pd.DataFrame(
        {
            "partner_id": take_strings(ids, incentives["partner"]),
            "incentive": take_strings(
                names,
                np.where(incentives["incentive"] < 0, len(names) - 1, incentives["incentive"]),
            ),
            "starts_on": to_dates(incentives["start"]),
            "ends_on": to_dates(incentives["end"]),
            "cost": incentives["cost"].astype(float),
            "randomized": incentives["randomized"].astype(bool),
        }
    )
    return {
        "partners": partner_frame,
        "bookings": booking_frame,
        "opportunities": opportunity_frame,
        "activities": activity_frame,
        "incentives": incentive_frame,
    }
