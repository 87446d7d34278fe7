"""Record every forecast the API answers in the forecast ledger, off the request path.

A request only puts its answer on a queue (:meth:`LedgerWriter.submit`, which never
blocks and never raises); one background thread turns answers into ledger rows, skips
forecasts it has already stored, and writes what has gathered in one transaction every
``flush_seconds``. A ledger that cannot be written is logged and the rows are dropped:
recording must never turn an answer into an error or slow it down. :meth:`close` (the
service's shutdown) writes what is still queued.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.ledger import KEY_COLUMNS, ForecastLedger, display_url, forecast_rows
from serving.schemas import AggregateResponse, ForecastResponse

log = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class Provenance:
    """Which model gave an answer: the ledger's model name, version, run and as-of."""

    model_name: str
    model_version: str
    run_id: str
    as_of: dt.date


def answer_rows(answer: ForecastResponse | AggregateResponse, made_by: Provenance) -> pd.DataFrame:
    """Ledger rows (source ``api``) of a forecast or group-forecast answer."""
    items = answer.forecasts
    columns: dict[str, list[Any]] = {
        "quarter_start": [pd.Timestamp(f.quarter_start) for f in items],
        "horizon": [f.horizon for f in items],
        "p10": [f.p10 for f in items],
        "p50": [f.p50 for f in items],
        "p90": [f.p90 for f in items],
    }
    if isinstance(answer, AggregateResponse):
        columns["group"] = [f.group for f in items]
        level = answer.group_by
    else:
        columns["partner_id"] = [f.partner_id for f in items]
        level = None
    return forecast_rows(
        pd.DataFrame(columns),
        source="api",
        model_name=made_by.model_name,
        model_version=made_by.model_version,
        run_id=made_by.run_id,
        as_of=pd.Timestamp(made_by.as_of),
        level=level,
    )


class LedgerWriter:
    """The background writer of one service worker; see the module docstring.

    ``max_pending`` answers may wait (more are dropped with a warning rather than
    holding memory or requests); ``max_seen`` bounds the memory of stored forecast keys.
    """

    def __init__(
        self,
        url: str,
        *,
        flush_seconds: float = 0.5,
        max_pending: int = 10_000,
        max_seen: int = 2_000_000,
    ) -> None:
        self.url = url
        self.flush_seconds = flush_seconds
        self.max_seen = max_seen
        self.recorded = 0  # rows new to the ledger
        self.dropped = 0  # answers not recorded (queue full or ledger failure)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._seen: set[tuple] = set()
        self._ledger: ForecastLedger | None = None
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    # -- request side --------------------------------------------------------------
    def submit(self, answer: ForecastResponse | AggregateResponse, made_by: Provenance) -> None:
        """Queue an answer for recording; returns at once, whatever happens."""
        try:
            self._queue.put_nowait((answer, made_by))
        except queue.Full:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.warning("ledger queue full: %d answers not recorded so far", self.dropped)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread (waits at most ``timeout`` seconds)."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.warning("ledger writer did not take the stop signal in %.0fs", timeout)
            return
        self._thread.join(timeout)
        if self._ledger is not None:
            self._ledger.close()

    # -- writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            deadline = time.monotonic() + self.flush_seconds
            while batch[-1] is not _STOP:
                try:
                    batch.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0)))
                except queue.Empty:
                    break
            stopping = batch[-1] is _STOP
            answers = [item for item in batch if item is not _STOP]
            if answers:
                self._write(answers)

    def _write(self, answers: list[tuple[Any, Provenance]]) -> None:
        try:
            rows = pd.concat([answer_rows(a, p) for a, p in answers], ignore_index=True)
            keys = list(rows[list(KEY_COLUMNS)].astype(str).itertuples(index=False, name=None))
            new = [k not in self._seen for k in keys]
            rows = rows[new]
            if rows.empty:
                return
            if self._ledger is None:
                self._ledger = ForecastLedger(self.url)
            self.recorded += self._ledger.record(rows)
        except Exception as exc:  # never let the ledger take the service down
            self.dropped += len(answers)
            log.error(
                "could not record %d answers in the forecast ledger at %s: %s",
                len(answers),
                display_url(self.url),
                exc,
            )
            return
        if len(self._seen) > self.max_seen:
            self._seen.clear()
        self._seen.update(k for k, is_new in zip(keys, new, strict=True) if is_new)
