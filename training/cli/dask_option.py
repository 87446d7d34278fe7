"""``--dask SCHEDULER | local[:N]`` for train, backtest, forecast and recommend.

Without the flag nothing changes. With it the command's feature frames are built per
partition of partners on a Dask cluster (``features.distributed``) and the forecaster's
quantile boosters train with ``lightgbm.dask`` (``training.jobs.dask_training``); without
the optional extra installed the command stops before reading data, exit 2, naming the
install command.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

from features.data import Dataset
from features.distributed import DaskFrames


def check_dask(args: argparse.Namespace) -> None:
    """Raise ``DaskUnavailable`` (exit 2) when ``--dask`` is given without the extra."""
    if getattr(args, "dask", None) is not None:
        from features.distributed import require_dask

        require_dask()


@contextlib.contextmanager
def dask_frames(args: argparse.Namespace, ds: Dataset) -> Iterator[DaskFrames | None]:
    """The Dask frame builders over ``ds`` while the command runs, the forecaster's quantile
    boosters on ``lightgbm.dask`` meanwhile; None without ``--dask``."""
    if getattr(args, "dask", None) is None:
        yield None
        return
    from features.distributed import dask_client
    from training.jobs.dask_training import boosters_on

    with dask_client(args.dask) as client, boosters_on(client):
        yield DaskFrames(client, ds)
