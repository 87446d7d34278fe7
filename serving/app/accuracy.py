"""Realised accuracy and forecast value added for the Accuracy page.

The numbers are ``partnercast accuracy``'s: the same call
(:func:`features.reporting.realised.realised_accuracy`) on the service's dataset, ledger and
fiscal calendar. Scoring the ledger takes a moment on a big one (the revenue panel and
every matured forecast), so a result is kept until the dataset changes or
:data:`KEEP_SECONDS` pass (new forecasts mature only when the data moves on; overrides
count once their quarter has ended), and the page loads it behind a spinner.
"""

from __future__ import annotations

import logging
import threading
import time

from features.calendar import QuarterCalendar
from features.data import BadInput, Dataset
from features.reporting.realised import LedgerUnreadable, RealisedAccuracy, realised_accuracy
from features.settings import Settings

log = logging.getLogger(__name__)

KEEP_SECONDS = 60.0


def score(ds: Dataset, settings: Settings) -> RealisedAccuracy:
    """The realised-accuracy tables for ``ds``, or the reason there are none."""
    try:
        return realised_accuracy(
            ds,
            ledger_url=settings.resolved_ledger_url,
            calendar=QuarterCalendar(settings.fy_start_month),
        )
    except (LedgerUnreadable, BadInput) as exc:
        log.warning("realised accuracy: %s", exc)
        return RealisedAccuracy(ds.as_of(), nothing_because=str(exc))


class AccuracyReports:
    """The latest report per dataset version, made again after :data:`KEEP_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one scoring at a time; the others wait for its result
        self._kept: tuple[tuple, float, RealisedAccuracy] | None = None

    def get(self, ds: Dataset, signature: tuple, settings: Settings) -> RealisedAccuracy:
        with self._lock:
            now = time.monotonic()
            kept = self._kept
            if kept is not None and kept[0] == signature and now - kept[1] < KEEP_SECONDS:
                return kept[2]
            report = score(ds, settings)
            self._kept = (signature, time.monotonic(), report)
            return report
