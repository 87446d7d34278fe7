"""Dataset lineage: a content digest of the tables a model was trained on."""

from __future__ import annotations

import hashlib
from pathlib import Path

from features.data import TABLES, table_files


def dataset_digest(folder: Path) -> str:
    """SHA-256 over the fact tables' file names and bytes, Parquet parts included (targets,
    ``_truth/`` and others ignored)."""
    digest = hashlib.sha256()
    for path in table_files(Path(folder), TABLES):
        digest.update(path.relative_to(folder).as_posix().lower().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
