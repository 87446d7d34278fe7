"""Load a data folder into a typed, validated :class:`~features.data.dataset.Dataset`.

This is the one entry point the rest of partnercast uses to read data: it reads
every table, coerces it to the typed frames of ``features.data.dataset``, checks the
contract, and raises :class:`DataContractError` (a ``ValueError`` whose
``report`` lists every problem) when anything is wrong, so no half-valid data
goes further.
"""

from __future__ import annotations

import logging
from pathlib import Path

from features.data.dataset import Dataset
from features.data.problems import DataContractError
from features.data.validation import validate_folder

__all__ = ["DataContractError", "load_dataset"]

logger = logging.getLogger(__name__)


def load_dataset(path: str | Path) -> Dataset:
    """The dataset in folder ``path``, typed and validated; rows in file order.

    Raises :class:`DataContractError` with the full report when the data breaks the
    contract (or the folder is missing).
    """
    report = validate_folder(path)
    if report.dataset is None:
        raise DataContractError(report)
    logger.info(
        "loaded %s: %s",
        report.source,
        ", ".join(f"{t} {len(report.dataset.table(t))}" for t in sorted(report.dataset.present)),
    )
    return report.dataset
