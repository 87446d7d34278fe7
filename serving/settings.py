"""The service's settings: the project's :class:`Settings` plus what only serving needs.

Built once in the service's constructor (BentoML starts it in a worker process, so the
environment is how ``partnercast serve`` passes flags down). All ``PARTNERCAST_*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from features.settings import Settings

ModelSource = Literal["auto", "mlflow", "bentoml"]


class ServingSettings(Settings):
    """Limits, refresh and model source of the HTTP service.

    ``model_source``: ``mlflow`` loads the ``champion`` alias from the registry,
    ``bentoml`` loads the models imported into the BentoML model store (what a Bento
    carries), ``auto`` uses the registry when a tracking URI is set or the embedded
    store exists, else the BentoML store. ``record_forecasts`` (``PARTNERCAST_RECORD_
    FORECASTS``, default on) records every forecast answered in the forecast ledger at
    ``resolved_ledger_url`` (``serving.ledger_writer``). ``max_body_bytes``
    (``PARTNERCAST_MAX_BODY_BYTES``, 1 MiB) caps a request body: 5,000 partner ids take
    about 60 kB, so anything near the cap is a mistake or an attack, answered 413 before
    it is parsed. ``currency_symbol`` (``PARTNERCAST_CURRENCY_SYMBOL``, ``$``) is how the
    planner app (:mod:`serving.app`) writes the dataset's money; the API answers plain numbers.
    """

    max_batch: int = Field(default=5000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # larger request bodies: 413
    reload_seconds: float = Field(default=60.0, ge=0)  # 0: no polling, POST /reload only
    model_source: ModelSource = "auto"
    record_forecasts: bool = True  # answers of /forecast and /forecast/aggregate -> ledger
    ledger_flush_seconds: float = Field(default=0.5, ge=0)  # how long answers gather per write
    api_keys: Path | None = (
        None  # PARTNERCAST_API_KEYS: a JSON file of hashed keys (serving.identity)
    )
    overrides_refresh_seconds: float = Field(default=5.0, ge=0)  # re-read overrides this often
    currency_symbol: str = Field(default="$", max_length=8)  # the planner app's money prefix
