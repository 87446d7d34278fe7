"""The forecaster's quantile boosters trained with ``lightgbm.dask`` (``--dask``).

:func:`boosters_on` swaps the trainer of every quantile booster
(``training.forecast.quantile_model.BOOSTER_TRAINER``) for one that spreads the booster's rows
over the cluster's workers and trains it data-parallel with ``lightgbm.dask``; the booster
comes back as a plain ``lightgbm.Booster``, so the conformal calibration, the bundle, the
MLflow run and the registry version are those of the single-process path. The boosters'
parameters are the same; data-parallel LightGBM bins and bags each worker's rows, so the
trees are close to the single-process trees, not the same (the test holds the backtest's
WAPE and coverage within 0.01).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from training.forecast.quantile_model import BOOSTER_TRAINER

log = logging.getLogger(__name__)

LABEL, WEIGHT, INIT = "__label__", "__weight__", "__init_score__"
IGNORED = frozenset({"num_threads", "n_jobs"})


def _workers(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def dask_trainer(client: Any, workers: int | None = None) -> Any:
    """A ``lightgbm.train`` stand-in (the arguments ``quantile_model`` passes) on ``client``,
    the rows spread over ``workers`` of its workers (default: all; 1 trains the very booster
    ``lightgbm.train`` would)."""
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMRegressor

    def train(
        params: dict,
        train_set: lgb.Dataset,
        *,
        num_boost_round: int,
        valid_sets: list | None = None,
        callbacks: list | None = None,
    ) -> lgb.Booster:
        if valid_sets or callbacks:
            raise ValueError("the lightgbm.dask trainer takes no early stopping")
        features = train_set.data
        if not isinstance(features, pd.DataFrame):
            raise TypeError("the lightgbm.dask trainer takes a DataFrame's dataset")
        rows = features.reset_index(drop=True).assign(**{LABEL: np.asarray(train_set.label)})
        if train_set.weight is not None:
            rows[WEIGHT] = np.asarray(train_set.weight, dtype=np.float64)
        if train_set.init_score is not None:
            rows[INIT] = np.asarray(train_set.init_score, dtype=np.float64)
        # every worker gets every n-th row, not a contiguous block: each worker's rows span
        # all cutoffs and horizons, as the bins each worker finds for its features must
        n = min(workers or _workers(client), len(rows))
        rows = rows.iloc[np.argsort(np.arange(len(rows)) % n, kind="stable")]
        parts = dd.from_pandas(rows.reset_index(drop=True), npartitions=n, sort=False)
        model = DaskLGBMRegressor(
            client=client,
            n_estimators=num_boost_round,
            **{
                k: v
                for k, v in {**(train_set.params or {}), **params}.items()
                if k not in IGNORED  # the workers' threads are Dask's to set
            },
        )
        model.fit(
            parts[list(features.columns)],
            parts[LABEL],
            sample_weight=parts[WEIGHT] if WEIGHT in rows else None,
            init_score=parts[INIT] if INIT in rows else None,
        )
        return model.to_local().booster_

    return train


def quiet_lightgbm() -> None:
    """LightGBM's messages (its C++ library's network set-up and ``lightgbm.dask``'s own)
    through Python logging at WARNING and up, on stderr: by default they print to stdout,
    which carries only results (CLI_CONTRACT.md)."""
    logger = logging.getLogger("lightgbm")
    logger.setLevel(logging.WARNING)
    lgb.register_logger(logger)


@contextlib.contextmanager
def boosters_on(client: Any, workers: int | None = None) -> Iterator[None]:
    """While active, the forecaster's quantile boosters train with ``lightgbm.dask`` on
    ``workers`` of the client's workers (default: all)."""
    quiet_lightgbm()
    client.run(quiet_lightgbm)  # in every worker process too
    token = BOOSTER_TRAINER.set(dask_trainer(client, workers))
    log.info(
        "dask: quantile boosters with lightgbm.dask on %d worker(s)",
        workers or _workers(client),
    )
    try:
        yield
    finally:
        BOOSTER_TRAINER.reset(token)
