"""Load champion models from the MLflow registry (never from a loose file).

Used by the CLI's scoring commands and by the HTTP service, so it lives on the
ground floor. Nothing here changes the registry or writes into the store: a model is
copied to a private temporary folder and loaded from there (MLflow would otherwise write a
``registered_model_meta`` file into a local store's model folder, which fails on a
read-only ``mlruns/`` and races with a concurrent retrain).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from typing import Any

from features.data import BadInput
from features.names import CHAMPION, NOT_TRAINED_TAG

log = logging.getLogger(__name__)


class NoChampionError(LookupError):
    """The registry has no ``champion`` for a model (nothing trained or promoted yet)."""


class UntrainableModelError(NoChampionError, BadInput):
    """No champion because the data was too short to fit the model: the message says why
    (the CLI exits 2, the API answers 503 with it)."""


@dataclass(frozen=True)
class LoadedModel:
    """A champion's Python object and where it came from."""

    name: str
    version: str
    run_id: str
    model: Any
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def champion_model_version(client: Any, name: str, tracking_uri: str) -> Any:
    """The registry's ``champion`` version of ``name`` (an MLflow ``ModelVersion``); raises
    :class:`NoChampionError`, or :class:`UntrainableModelError` with the reason the last
    training run left when the data could not fit the model."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        reason = _not_trained_reason(client, name)
        if reason:
            raise UntrainableModelError(
                f"no '{CHAMPION}' version of model '{name}': the last 'partnercast train' "
                f"could not fit it: {reason}"
            ) from exc
        raise NoChampionError(
            f"no '{CHAMPION}' version of model '{name}' in the registry at {tracking_uri}: "
            "run 'partnercast train' first"
        ) from exc


def load_champion(name: str, tracking_uri: str) -> LoadedModel:
    """The ``champion`` version of ``name``, loaded through MLflow's pyfunc flavour."""
    import mlflow  # heavy: imported when a model is really loaded
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    version = champion_model_version(client, name, tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    log.info("loading %s v%s (%s)", name, version.version, CHAMPION)
    with tempfile.TemporaryDirectory(prefix="partnercast-model-") as copy:
        # the loaders read every file eagerly, so the copy can go once the model is loaded
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}", dst_path=copy)
    run = client.get_run(version.run_id)
    return LoadedModel(
        name=name,
        version=str(version.version),
        run_id=version.run_id,
        model=pyfunc.unwrap_python_model(),
        metrics=dict(run.data.metrics),
        tags=dict(version.tags),
    )


def _not_trained_reason(client: Any, name: str) -> str | None:
    """The registered model's :data:`~features.names.NOT_TRAINED_TAG`, if any."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name).tags.get(NOT_TRAINED_TAG)
    except MlflowException:
        return None
