"""MLflow plumbing: embedded store location, artifact root, champion alias behind the gate."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from features.names import CHAMPION
from features.settings import Settings
from training.jobs.tracking import (
    GateDecision,
    champion_version,
    configure_tracking,
    ensure_experiment,
    promote_if_passed,
)


class _Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: list[float], params=None) -> list[float]:
        return [1.0] * len(model_input)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # artifacts must not land in the working directory
    settings = Settings(store_dir=tmp_path / "mlruns")
    client = configure_tracking(settings)
    yield settings, client
    mlflow.set_tracking_uri(None)


def _register(settings: Settings, client, name: str) -> str:
    experiment_id = ensure_experiment(client, "tracking-test", settings)
    with mlflow.start_run(experiment_id=experiment_id):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=_Constant(), pip_requirements=["mlflow"]
        )
    return mlflow.register_model(info.model_uri, name).version


def test_embedded_store_keeps_everything_under_mlruns(store, tmp_path: Path) -> None:
    settings, client = store
    assert settings.resolved_tracking_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    _register(settings, client, "m")
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    assert any((tmp_path / "mlruns" / "artifacts").rglob("MLmodel"))
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_ensure_experiment_is_idempotent(store) -> None:
    settings, client = store
    assert ensure_experiment(client, "x", settings) == ensure_experiment(client, "x", settings)


def test_champion_moves_only_when_the_gate_passes(store) -> None:
    settings, client = store
    assert champion_version(client, "m") is None

    v1 = _register(settings, client, "m")
    assert promote_if_passed(client, "m", v1, GateDecision.from_checks({"first": True}))
    assert champion_version(client, "m").version == v1

    v2 = _register(settings, client, "m")
    failed = GateDecision.from_checks({"wape not worse": False, "coverage in 0.70-0.90": True})
    assert not failed.passed
    assert not promote_if_passed(client, "m", v2, failed)
    assert champion_version(client, "m").version == v1
    tag = client.get_model_version("m", v2).tags["quality_gate"]
    assert tag.startswith("failed") and "FAILED: wape not worse" in tag
    assert CHAMPION not in client.get_model_version("m", v2).aliases


def test_tracking_uri_from_the_environment_wins(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/other.db")
    assert Settings().resolved_tracking_uri == f"sqlite:///{tmp_path}/other.db"
