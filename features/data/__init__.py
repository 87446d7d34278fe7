"""The data contract and everything that reads or writes files.

- ``dataset``: the typed tables (:data:`COLUMNS`, :data:`TABLES`) and :class:`Dataset`;
- ``contract``: the contract as pandera schemas; ``reader``: files to typed frames;
- ``validation`` and ``problems``: every broken rule at once, naming table, column, rows;
- ``loader``: :func:`load_dataset`, the one way the rest of partnercast reads data;
- ``outputs``: result files written whole or not at all.
"""

from features.data.dataset import (
    COLUMNS,
    DATE_COLUMNS,
    TABLES,
    Dataset,
    incentive_grants,
    is_holdout,
)
from features.data.loader import load_dataset
from features.data.outputs import (
    write_bytes_atomically,
    write_csv_atomically,
    write_file_atomically,
    write_folder_atomically,
)
from features.data.problems import (
    BadInput,
    DataContractError,
    Problem,
    ShortHistory,
    ValidationReport,
)
from features.data.reader import table_files
from features.data.validation import summarize_dataset, validate_folder

__all__ = [
    "COLUMNS",
    "DATE_COLUMNS",
    "TABLES",
    "BadInput",
    "ShortHistory",
    "DataContractError",
    "Dataset",
    "Problem",
    "ValidationReport",
    "incentive_grants",
    "is_holdout",
    "load_dataset",
    "summarize_dataset",
    "table_files",
    "validate_folder",
    "write_bytes_atomically",
    "write_csv_atomically",
    "write_file_atomically",
    "write_folder_atomically",
]
