"""Partner attribute features: tier, type, region, country, industry, extra columns, tenure.

Text attributes become pandas categoricals whose levels are fixed by the fitted spec, so
training and scoring encode them identically; a level not in the spec (or missing) becomes
NaN, which LightGBM treats as missing. Extra partner columns (allowed by the contract) are
picked up automatically as ``extra_<name>``: text -> categorical, numbers and flags ->
numeric; date columns are skipped because their meaning at a past as-of date is unknown.
Attributes are the partner table as exported, i.e. as they are now: the contract has no
attribute history.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.data import COLUMNS, Dataset
from features.families.windows import CutoffGrid, days_between, to_days

log = logging.getLogger(__name__)

CONTRACT_ATTRIBUTES = ("tier", "partner_type", "region", "country", "industry")
_NOT_FEATURES = frozenset({"partner_id", "joined_on", "name"})
_CONTRACT = frozenset(c.name for c in COLUMNS["partners"])


def attribute_column(source: str) -> str:
    """Feature column name of a partner column."""
    return source if source in _CONTRACT else f"extra_{source}"


def fit_partner_attributes(
    partners: pd.DataFrame, *, max_levels: int
) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Levels of each text attribute (the ``max_levels`` most frequent) and the numeric ones."""
    levels: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    for col in partners.columns:
        if col in _NOT_FEATURES:
            continue
        series = partners[col]
        if col not in CONTRACT_ATTRIBUTES and (
            pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series)
        ):
            numeric.append(col)
        elif pd.api.types.is_datetime64_any_dtype(series):
            log.info("partner column %r is a date; not used as a feature", col)
        else:
            counts = series.dropna().astype(str).value_counts()
            ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_levels]
            levels[col] = tuple(sorted(str(k) for k, _ in ranked))
    return levels, tuple(numeric)


def build_partner_attributes(
    ds: Dataset,
    grid: CutoffGrid,
    *,
    categorical_levels: dict[str, tuple[str, ...]],
    numeric_columns: tuple[str, ...],
) -> pd.DataFrame:
    """Attribute and tenure features for every grid row (rows aligned with the grid)."""
    partners = ds.partners.set_index("partner_id").reindex(grid.partner_ids)
    cols: dict[str, object] = {}
    for col, levels in categorical_levels.items():
        dtype = pd.CategoricalDtype(pd.Index(list(levels), dtype="str"))
        codes = np.full(grid.n_partners, -1, dtype=np.int64)
        if col in partners.columns:
            text = partners[col].astype("str").where(partners[col].notna())
            codes = dtype.categories.get_indexer(pd.Index(text))  # unseen or missing -> -1
        cols[attribute_column(col)] = pd.Categorical.from_codes(codes[grid.code], dtype=dtype)
    for col in numeric_columns:
        if col in partners.columns:
            raw = pd.to_numeric(partners[col], errors="coerce").astype("float64")
            cols[attribute_column(col)] = raw.to_numpy()[grid.code]
        else:
            cols[attribute_column(col)] = np.full(len(grid), np.nan)
    joined = to_days(partners["joined_on"])[grid.code]
    cols["tenure_days"] = days_between(grid.as_of, joined)
    cols["tenure_quarters"] = (grid.q0 - grid.calendar.quarter_index_days(joined)).astype(
        np.float64
    )
    return pd.DataFrame(cols, index=pd.RangeIndex(len(grid)))
