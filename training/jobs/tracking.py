"""MLflow plumbing shared by every model: store, experiments, registry, champion alias.

The embedded store is ``sqlite:///<cwd>/mlruns/mlflow.db`` with artifacts under
``mlruns/artifacts`` (MLflow 3 refuses a plain folder store, and without an
explicit artifact location drops artifacts relative to whatever directory the
process runs in). ``MLFLOW_TRACKING_URI`` replaces it. A model becomes
``champion`` only through :func:`promote_if_passed`, which moves the alias only
when the quality gate passed, as the very last step of a run.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from features.names import CHAMPION, NOT_TRAINED_TAG
from features.settings import Settings

log = logging.getLogger(__name__)


class StoreNotWritable(RuntimeError):
    """The MLflow store cannot be written (read-only, full, no permission): nothing was
    promoted and the champion is unchanged; the message says where and why."""


# errors of the file system under the store, as ``OSError.errno``
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EPERM})
# the same seen through SQLite (which reports them as text)
_SQLITE_STORAGE_ERRORS = (
    "readonly database",
    "database or disk is full",
    "unable to open database file",
    "disk i/o error",
)


def storage_failure(exc: BaseException) -> str | None:
    """Why ``exc`` is the store's disk refusing a write (its chain holds such an error),
    in a few words; None when it is anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return current.strerror or str(current)
        text = str(current).lower()
        if isinstance(current, sqlite3.OperationalError) or "sqlite3.operationalerror" in text:
            for reason in _SQLITE_STORAGE_ERRORS:
                if reason in text:
                    return reason
        current = current.__cause__ or current.__context__
    return None


def _check_writable(folder: Path) -> None:
    """Write and remove a probe file in ``folder`` so a read-only or full store fails
    before any work, not after the backtest."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-probe-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"partnercast")
    finally:
        probe.unlink(missing_ok=True)


def configure_tracking(settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at the configured store; return a client.

    The embedded store is checked for writing first: :class:`StoreNotWritable` when it
    cannot be written, before any training starts."""
    uri = settings.resolved_tracking_uri
    if not settings.tracking_uri:
        artifacts = settings.store_dir / "artifacts"
        for folder in (settings.store_dir, artifacts):
            try:
                _check_writable(folder)
            except OSError as exc:
                raise StoreNotWritable(
                    f"the MLflow store {settings.store_dir} cannot be written "
                    f"({exc.strerror or exc}): nothing was trained, the champion is unchanged"
                ) from exc
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    log.debug("MLflow tracking at %s", uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str, settings: Settings) -> str:
    """The experiment's id, creating it (with an explicit artifact location) when new."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None if settings.tracking_uri else f"{settings.artifact_location}/{name}"
    return client.create_experiment(name, artifact_location=location)


def champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version the ``champion`` alias points at, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


@dataclass(frozen=True)
class GateDecision:
    """Whether a candidate may become champion, and why (each reason is one check)."""

    passed: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_checks(cls, checks: dict[str, bool]) -> GateDecision:
        """``checks`` maps a readable statement to whether it holds."""
        reasons = tuple(f"{'ok' if ok else 'FAILED'}: {text}" for text, ok in checks.items())
        return cls(passed=all(checks.values()), reasons=reasons)


def promote_if_passed(
    client: MlflowClient, model_name: str, version: str, decision: GateDecision
) -> bool:
    """Move ``champion`` to ``version`` when the gate passed; tag the version either way."""
    client.set_model_version_tag(model_name, version, "quality_gate", _gate_tag(decision))
    if not decision.passed:
        log.warning(
            "%s v%s stays a challenger: %s", model_name, version, "; ".join(decision.reasons)
        )
        return False
    client.set_registered_model_alias(model_name, CHAMPION, version)
    log.info("%s v%s is now %s", model_name, version, CHAMPION)
    return True


def _gate_tag(decision: GateDecision) -> str:
    return ("passed" if decision.passed else "failed") + " | " + " | ".join(decision.reasons)


def record_not_trained(client: MlflowClient, model_name: str, reason: str | None) -> None:
    """Say on the registered model why the last run could not fit it (None: clear it), so
    a caller asking for its champion learns why there is none."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        if reason is None:
            return
        client.create_registered_model(model_name)
    if reason is None:
        client.delete_registered_model_tag(model_name, NOT_TRAINED_TAG)
    else:
        client.set_registered_model_tag(model_name, NOT_TRAINED_TAG, reason)
