"""Realised accuracy and forecast value added, exactly as ``partnercast accuracy`` says.

The report (matured forecasts of the ledger against actuals; seasonal naive -> model ->
final with overrides, by horizon, segment and author) is made in ``training/reports/``,
which the service may not import (serving stands on ``features/`` only). So the page
runs the public command, as any of the planners' tools would: ``partnercast accuracy
--data DIR --out A.csv --fva B.csv`` in a child process with the service's own settings
(the worker's ``PARTNERCAST_*`` environment: dataset, ledger, fiscal calendar), and
reads the two files it writes: one home for the numbers, and the CLI contract as the
interface. A run takes a few seconds (the command's imports and the dataset), so the
result is kept until the dataset changes or :data:`KEEP_SECONDS` pass, and the page
loads it behind a spinner.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

KEEP_SECONDS = 300.0
TIMEOUT_SECONDS = 300.0


def command() -> Path:
    """The ``partnercast`` console command installed beside this interpreter."""
    return Path(sys.executable).with_name("partnercast")


@dataclass(frozen=True)
class Realised:
    """The command's two tables (None when it had nothing to score) and what it said."""

    accuracy: pd.DataFrame | None
    value_added: pd.DataFrame | None
    said: str


def run_accuracy(data_dir: Path) -> Realised:
    """``partnercast accuracy`` on ``data_dir`` in a child process; its tables."""
    with tempfile.TemporaryDirectory(prefix="partnercast-accuracy-") as folder:
        out, fva = Path(folder) / "accuracy.csv", Path(folder) / "fva.csv"
        if not command().exists():
            return Realised(None, None, f"the partnercast command is not installed ({command()})")
        argv = [str(command()), "accuracy", "--data", str(data_dir)]
        argv += ["--out", str(out), "--fva", str(fva)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            return Realised(None, None, f"partnercast accuracy took over {TIMEOUT_SECONDS:.0f} s")
        said = "\n".join(
            line for line in done.stderr.splitlines() if line.startswith("partnercast accuracy")
        )
        if done.returncode != 0:
            log.warning("partnercast accuracy exited %d: %s", done.returncode, done.stderr[-2000:])
            return Realised(None, None, said or f"partnercast accuracy exited {done.returncode}")
        accuracy = pd.read_csv(out, dtype={"horizon": str}) if out.exists() else None
        value_added = pd.read_csv(fva, dtype={"horizon": str}) if fva.exists() else None
        if accuracy is not None and accuracy.empty:
            accuracy = None
        return Realised(accuracy, value_added, said)


class AccuracyReports:
    """The latest report per dataset version, made again after :data:`KEEP_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one run at a time; the others wait for its result
        self._kept: tuple[tuple, float, Realised] | None = None

    def get(self, data_dir: Path, signature: tuple) -> Realised:
        with self._lock:
            now = time.monotonic()
            kept = self._kept
            if kept is not None and kept[0] == signature and now - kept[1] < KEEP_SECONDS:
                return kept[2]
            report = run_accuracy(data_dir)
            self._kept = (signature, time.monotonic(), report)
            return report
