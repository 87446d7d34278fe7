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
from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.reporting import ForecastLedger, display_url, forecast_rows
from serving.schemas import AggregateResponse, ForecastResponse

log = logging.getLogger(__name__)

MIN_PAUSE_SECONDS = 0.05  # the writer's shortest sleep (flush_seconds 0: "at once")


@dataclass(frozen=True)
class Provenance:
    """Which model gave an answer: the ledger's model name, version, run and as-of."""

    model_name: str
    model_version: str
    run_id: str
    as_of: dt.date


Item = tuple[str, str, dt.date, int, float, float, float]  # level, key, quarter, horizon, p's


def answer_items(answer: ForecastResponse | AggregateResponse) -> list[Item]:
    """An answer's forecasts as plain tuples (cheap: no frames on the common path)."""
    if isinstance(answer, AggregateResponse):
        level = answer.group_by
        return [
            (level, f.group, f.quarter_start, f.horizon, f.p10, f.p50, f.p90)
            for f in answer.forecasts
        ]
    return [
        ("partner", f.partner_id, f.quarter_start, f.horizon, f.p10, f.p50, f.p90)
        for f in answer.forecasts
    ]


def item_rows(items: list[Item], made_by: Provenance) -> pd.DataFrame:
    """Ledger rows (source ``api``) of answer items given by one model."""
    frame = pd.DataFrame(
        items, columns=["level", "group", "quarter_start", "horizon", "p10", "p50", "p90"]
    )
    frame["quarter_start"] = pd.to_datetime(frame["quarter_start"])
    return forecast_rows(
        frame,
        source="api",
        model_name=made_by.model_name,
        model_version=made_by.model_version,
        run_id=made_by.run_id,
        as_of=pd.Timestamp(made_by.as_of),
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
        self._seen: dict[Provenance, set[tuple]] = {}  # stored (level, key, quarter, horizon)
        self._ledger: ForecastLedger | None = None
        self._stop = threading.Event()
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
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("ledger writer did not finish its last write in %.0fs", timeout)
            return
        if self._ledger is not None:
            self._ledger.close()

    # -- writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        """Every ``flush_seconds`` take what has gathered; never woken per answer.

        Blocking on the queue would wake this thread for every answer, and each wake-up
        takes the interpreter lock from the request threads (a tenth of the samples of a
        py-spy profile under load); a timed sleep drains a whole batch per wake-up instead.
        """
        pause = max(self.flush_seconds, MIN_PAUSE_SECONDS)
        stopping = False
        while not stopping:
            stopping = self._stop.wait(pause)
            answers = []
            while True:
                try:
                    answers.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if answers:
                self._write(answers)

    def _write(self, answers: list[tuple[Any, Provenance]]) -> None:
        """Store the forecasts of ``answers`` not stored before, in one transaction."""
        try:
            new: dict[Provenance, dict[tuple, Item]] = {}
            for answer, made_by in answers:
                seen, fresh = self._seen.get(made_by, set()), new.setdefault(made_by, {})
                for item in answer_items(answer):
                    if item[:4] not in seen:
                        fresh.setdefault(item[:4], item)
            parts = [item_rows(list(items.values()), p) for p, items in new.items() if items]
            if not parts:
                return  # the common case: every forecast asked for is stored already
            if self._ledger is None:
                self._ledger = ForecastLedger(self.url)
            self.recorded += self._ledger.record(pd.concat(parts, ignore_index=True))
        except Exception as exc:  # never let the ledger take the service down
            self.dropped += len(answers)
            log.error(
                "could not record %d answers in the forecast ledger at %s: %s",
                len(answers),
                display_url(self.url),
                exc,
            )
            return
        if sum(len(keys) for keys in self._seen.values()) > self.max_seen:
            self._seen.clear()
        for made_by, items in new.items():
            self._seen.setdefault(made_by, set()).update(items)
