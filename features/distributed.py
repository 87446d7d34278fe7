"""Feature frames built per partition of partners on a Dask cluster (``--dask``).

The single-process frames (``features.frames``) are built partition by partition with the
same point-in-time code; what crosses partners is added up over the partitions first and then
handed to every partition (:class:`~features.frames.PooledSums`):

- the training cutoffs start at the first booking of any partner;
- the segment win rates (partner_type x tier, and all partners) are sums of won and closed
  opportunities per (segment, as_of) (``pipeline_signals.segment_win_totals``);
- the regional seasonal index is a function of revenue sums per (as_of, region)
  (``seasonal_index.seasonal_sums``), taken from the partner frames the workers keep.

Partitions are contiguous ranges of the sorted partner ids, so the partitions' frames put end
to end are in the single-process frame's row order; they equal it up to float32 rounding of
the seasonal index (sums added in another order). The feature spec (vocabularies, category
levels) is fitted once on the caller's side, as the single-process path does.

Dask is an optional extra (``uv sync --extra dask``): :func:`dask_client` says so plainly
when it is missing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from features.data import BadInput, Dataset
from features.families.panel import sorted_partner_ids
from features.families.pipeline_signals import segment_win_totals
from features.families.seasonal_index import seasonal_sums
from features.families.windows import to_days
from features.frames import (
    PooledSums,
    build_forecast_frame,
    build_recommender_frame,
    build_scoring_frame,
    first_booking_day,
    last_complete_quarter,
    partner_frame,
    partner_grid,
    training_cutoffs,
)
from features.spec import FeatureSpec

log = logging.getLogger(__name__)

LOCAL = "local"
DEFAULT_LOCAL_WORKERS = 2
LOCAL_PROCESSES = True
"""LocalCluster workers are processes (numpy and pandas hold the GIL much of the time); the
tests use threads, which start in milliseconds instead of seconds."""
INSTALL_HINT = "uv sync --extra dask"
PARTNER_TABLES: tuple[str, ...] = (
    "partners",
    "bookings",
    "opportunities",
    "activities",
    "incentives",
)


class DaskUnavailable(BadInput):
    """``--dask`` without the optional extra installed (exit 2)."""


class SchedulerUnreachable(RuntimeError):
    """``--dask ADDRESS`` where no scheduler answers (exit 1, one line: the cluster is the
    operator's to start, the flag's value may be right)."""


def parse_dask(text: str) -> str:
    """The ``--dask`` value: ``local``, ``local:N`` (N >= 1) or a scheduler address."""
    text = text.strip()
    if not text:
        raise ValueError("--dask needs a scheduler address or local[:N]")
    if text == LOCAL or text.startswith(LOCAL + ":"):
        count = text.partition(":")[2]
        if count and (not count.isdigit() or int(count) < 1):
            raise ValueError(f"--dask {text}: local:N takes a whole number of workers >= 1")
    return text


def require_dask() -> Any:
    """The ``distributed`` module, or :class:`DaskUnavailable` naming the install command."""
    try:
        import distributed
    except ImportError:
        raise DaskUnavailable(
            f"--dask needs the optional Dask extra, which is not installed: run `{INSTALL_HINT}`"
        ) from None
    return distributed


def _stdout_to_stderr() -> None:
    """In a LocalCluster's worker process: what its libraries print (LightGBM's C++ library
    prints from the worker's threads) goes to stderr, not to the command's stdout."""
    sys.stdout.flush()
    os.dup2(2, 1)


@contextlib.contextmanager
def dask_client(address: str, *, processes: bool | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on a new LocalCluster for ``local[:N]`` (N workers of one
    thread, default :data:`DEFAULT_LOCAL_WORKERS`), else connected to the scheduler at
    ``address``. The LocalCluster is closed on exit."""
    distributed = require_dask()
    address = parse_dask(address)
    if address == LOCAL or address.startswith(LOCAL + ":"):
        workers = int(address.partition(":")[2] or DEFAULT_LOCAL_WORKERS)
        processes = LOCAL_PROCESSES if processes is None else processes
        with (
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            if processes:  # the workers inherited the command's stdout
                client.run(_stdout_to_stderr)
            log.info("dask: LocalCluster of %d worker(s)", workers)
            yield client
        return
    try:
        client = distributed.Client(address)
    except OSError as exc:  # refused, unknown host, or no answer within the connect timeout
        raise SchedulerUnreachable(
            f"--dask {address}: no Dask scheduler answered there ({exc}); start one "
            "(`dask scheduler`) or use --dask local[:N]"
        ) from None
    with client:
        log.info("dask: connected to %s", address)
        yield client


# -- partitions ----------------------------------------------------------------------------
def partition_ids(ds: Dataset, parts: int) -> list[pd.Index]:
    """The sorted partner ids cut into ``parts`` contiguous ranges (none empty)."""
    ids = sorted_partner_ids(ds)
    parts = max(1, min(parts, len(ids)))
    return [ids[chunk] for chunk in np.array_split(np.arange(len(ids)), parts)]


def partition_dataset(ds: Dataset, ids: pd.Index) -> Dataset:
    """The rows of the partners ``ids`` in every partner table (plans left out)."""
    keep = set(ids)
    tables = {
        t: ds.table(t).loc[ds.table(t)["partner_id"].isin(keep).to_numpy()].reset_index(drop=True)
        for t in PARTNER_TABLES
    }
    return replace(ds, **tables)


def scatter_partitions(client: Any, ds: Dataset, parts: int) -> list[Any]:
    """``ds`` cut into ``parts`` partitions of partners, each held by a worker (futures)."""
    partitions = [partition_dataset(ds, ids) for ids in partition_ids(ds, parts)]
    return client.scatter(partitions)


def default_parts(client: Any) -> int:
    """Two partitions per worker: a slow one does not hold the others up."""
    return 2 * max(1, len(client.scheduler_info().get("workers", {})))


# -- tasks (run on the workers) --------------------------------------------------------------
def _first_day(ds: Dataset) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    joined = to_days(ds.partners["joined_on"])
    return first_booking_day(ds), (joined.min() if len(joined) else None)


def _win_totals(ds: Dataset, spec: FeatureSpec, cutoffs: np.ndarray) -> pd.DataFrame:
    return segment_win_totals(ds, partner_grid(ds, spec.calendar, cutoffs))


def _add_up(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The partitions' sums added up per key (the index); empty, with the columns, if all are."""
    whole = pd.concat(list(frames))
    if whole.empty:
        return whole
    return whole.groupby(level=list(range(whole.index.nlevels)), sort=True).sum()


def _min_day(values: Sequence[np.datetime64 | None]) -> np.datetime64 | None:
    days = [v for v in values if v is not None and not np.isnat(v)]
    return min(days) if days else None


# -- the frames ------------------------------------------------------------------------------
class DaskFrames:
    """The feature frames of ``features.frames``, built per partition of partners on a Dask
    ``client``; the partitions of ``ds`` are scattered once and reused for every frame. The
    methods take the builders' arguments, ``ds`` first (it must be the dataset given here),
    so a caller can pass a method where it would pass the builder."""

    def __init__(self, client: Any, ds: Dataset, parts: int | None = None) -> None:
        self.client = client
        self.source = ds
        self.parts = parts or default_parts(client)
        self.partitions = scatter_partitions(client, ds, self.parts)
        log.info("dask: %d partners in %d partitions", len(ds.partners), len(self.partitions))

    def tags(self) -> dict[str, str]:
        """MLflow tags saying the run's frames were built on Dask, and how."""
        workers = len(self.client.scheduler_info().get("workers", {}))
        return {
            "features.engine": "dask",
            "dask.workers": str(workers),
            "dask.partitions": str(self.parts),
        }

    def _check(self, ds: Dataset) -> None:
        if ds is not self.source:
            raise ValueError("DaskFrames builds the frames of the dataset it was given")

    def _gather(self, futures: list[Any]) -> pd.DataFrame:
        frames = self.client.gather(futures)
        return pd.concat(frames, ignore_index=True)

    def _cutoffs(self, spec: FeatureSpec, data_end: pd.Timestamp) -> tuple[np.ndarray, int]:
        cal = spec.calendar
        last_q = last_complete_quarter(cal, np.datetime64(pd.Timestamp(data_end).date(), "D"))
        firsts = self.client.gather(self.client.map(_first_day, self.partitions))
        first = _min_day([f[0] for f in firsts]) or _min_day([f[1] for f in firsts])
        return training_cutoffs(cal, first, last_q), last_q

    def _win_totals(self, spec: FeatureSpec, cutoffs: np.ndarray) -> pd.DataFrame:
        totals = self.client.map(_win_totals, self.partitions, spec=spec, cutoffs=cutoffs)
        return _add_up(self.client.gather(totals))

    def _horizon_frames(
        self,
        spec: FeatureSpec,
        cutoffs: np.ndarray,
        build: Any,
        **kwargs: Any,
    ) -> pd.DataFrame:
        """Partner frames with pooled win rates, kept on the workers; the seasonal sums over
        them; then ``build`` (forecast or scoring rows) per partition with both."""
        wins = self._win_totals(spec, cutoffs)
        pooled = PooledSums(win_totals=wins)
        frames = self.client.map(
            partner_frame, self.partitions, spec=spec, cutoffs=cutoffs, pooled=pooled
        )
        seasonal = _add_up(self.client.gather(self.client.map(seasonal_sums, frames)))
        pooled = PooledSums(win_totals=wins, seasonal=seasonal)
        rows = self.client.map(
            build, self.partitions, frames, spec=spec, pooled=pooled, cutoffs=cutoffs, **kwargs
        )
        return self._gather(rows)

    def forecast_frame(
        self, ds: Dataset, *, spec: FeatureSpec, horizons: int, data_end: pd.Timestamp
    ) -> pd.DataFrame:
        """``build_forecast_frame(ds, spec=spec, horizons=horizons, data_end=data_end)``."""
        self._check(ds)
        cutoffs, _ = self._cutoffs(spec, data_end)
        return self._horizon_frames(
            spec, cutoffs, _forecast_rows, horizons=horizons, data_end=pd.Timestamp(data_end)
        )

    def scoring_frame(
        self, ds: Dataset, *, as_of: pd.Timestamp, spec: FeatureSpec, horizon: int
    ) -> pd.DataFrame:
        """``build_scoring_frame(ds, as_of=as_of, spec=spec, horizon=horizon)``."""
        self._check(ds)
        cutoffs = np.array([np.datetime64(pd.Timestamp(as_of).date(), "D")])
        return self._horizon_frames(spec, cutoffs, _scoring_rows, horizon=horizon)

    def features(self, ds: Dataset, *, as_of: pd.Timestamp, spec: FeatureSpec) -> pd.DataFrame:
        """``build_features(ds, as_of=as_of, spec=spec)``: one row per partner."""
        self._check(ds)
        cutoffs = np.array([np.datetime64(pd.Timestamp(as_of).date(), "D")])
        pooled = PooledSums(win_totals=self._win_totals(spec, cutoffs))
        rows = self.client.map(
            partner_frame, self.partitions, spec=spec, cutoffs=cutoffs, pooled=pooled
        )
        return self._gather(rows)

    def recommender_frame(
        self, ds: Dataset, *, spec: FeatureSpec, data_end: pd.Timestamp
    ) -> pd.DataFrame:
        """``build_recommender_frame(ds, spec=spec, data_end=data_end)``."""
        self._check(ds)
        cutoffs, _ = self._cutoffs(spec, data_end)
        pooled = PooledSums(win_totals=self._win_totals(spec, cutoffs))
        rows = self.client.map(
            build_recommender_frame,
            self.partitions,
            spec=spec,
            data_end=pd.Timestamp(data_end),
            cutoffs=cutoffs,
            pooled=pooled,
        )
        return self._gather(rows)


def _forecast_rows(
    ds: Dataset,
    frame: pd.DataFrame,
    *,
    spec: FeatureSpec,
    pooled: PooledSums,
    cutoffs: np.ndarray,
    horizons: int,
    data_end: pd.Timestamp,
) -> pd.DataFrame:
    return build_forecast_frame(
        ds,
        spec=spec,
        cutoffs=cutoffs,
        horizons=horizons,
        data_end=data_end,
        pooled=pooled,
        partner_rows=frame,
    )


def _scoring_rows(
    ds: Dataset,
    frame: pd.DataFrame,
    *,
    spec: FeatureSpec,
    pooled: PooledSums,
    cutoffs: np.ndarray,
    horizon: int,
) -> pd.DataFrame:
    as_of = pd.Timestamp(cutoffs[0])
    return build_scoring_frame(
        ds, as_of=as_of, spec=spec, horizon=horizon, pooled=pooled, partner_rows=frame
    )
