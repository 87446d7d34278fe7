"""Dataset lineage: a content digest of the tables a model was trained on."""

from __future__ import annotations

import hashlib
from pathlib import Path

from features.data import TABLES

_SUFFIXES = (".csv", ".parquet")


def dataset_digest(folder: Path) -> str:
    """SHA-256 over the contract tables' file names and bytes (``_truth/`` and others ignored)."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in Path(folder).iterdir()
        if p.is_file() and p.suffix.lower() in _SUFFIXES and p.stem.lower() in TABLES
    )
    for path in files:
        digest.update(path.name.lower().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
