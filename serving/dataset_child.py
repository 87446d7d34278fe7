"""Read and validate the service's dataset in a child process.

Reading the exports and checking them against the data contract is seconds of pandas
and pandera work that holds the interpreter lock (4 s for the demo world's 400,000
rows). Done in the serving process, every request in flight waited behind it whenever
the dataset changed. :func:`load_apart` runs :func:`features.data.load_dataset` in a
fresh ``python -m serving.dataset_child`` and takes the result back as one pickle
(tens of milliseconds to read: the frames are Arrow-backed columns, not Python objects).
The child reads and validates exactly as the CLI's ``--data`` does.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

from features.data import DataContractError, Dataset, load_dataset

INVALID = 2  # the child's exit code when the data breaks the contract (report on stdout)
ROOT = Path(__file__).resolve().parents[1]  # the folder holding features/ and serving/


class InvalidDataset(ValueError):
    """The dataset breaks the data contract; the message is the contract's report."""


def load_apart(folder: Path, timeout: float = 600.0) -> Dataset:
    """:func:`features.data.load_dataset` of ``folder``, run in a child process.

    Raises :class:`InvalidDataset` with the contract's report when the data is invalid,
    ``RuntimeError`` with the child's last words when it fails otherwise.
    """
    path = os.environ.get("PYTHONPATH", "")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), path) if p)}
    with tempfile.TemporaryDirectory(prefix="partnercast-dataset-") as work:
        out = Path(work) / "dataset.pickle"
        done = subprocess.run(
            [sys.executable, "-m", "serving.dataset_child", str(folder), str(out)],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if done.returncode == INVALID:
            raise InvalidDataset(done.stdout.strip())
        if done.returncode != 0 or not out.exists():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"reading the dataset {folder} failed: {last}")
        with out.open("rb") as handle:
            return pickle.load(handle)  # noqa: S301 - our own child's file, just written


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    try:
        dataset = load_dataset(folder)
    except DataContractError as exc:
        print(exc.report.format())
        return INVALID
    partial = out.with_suffix(".partial")
    with partial.open("wb") as handle:
        pickle.dump(dataset, handle, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
