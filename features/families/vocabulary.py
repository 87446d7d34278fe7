"""Vocabularies learned from data (activity and incentive types) and their column-name slugs."""

from __future__ import annotations

import re

import pandas as pd

_NON_WORD = re.compile(r"[^0-9a-z]+")


def learn_vocabulary(values: pd.Series) -> tuple[str, ...]:
    """Distinct non-missing values, sorted, so the same data always gives the same vocabulary."""
    return tuple(sorted(str(v) for v in pd.Series(values).dropna().unique()))


def slugs(vocabulary: tuple[str, ...]) -> dict[str, str]:
    """A distinct lower-case identifier per value, for column names (``Portal Login`` -> ...)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for value in vocabulary:
        base = _NON_WORD.sub("_", value.lower()).strip("_") or "value"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}_{n}"
        taken.add(slug)
        out[value] = slug
    return out
