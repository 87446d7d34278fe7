"""``make bento``: the registry's champions into the BentoML model store, then a Bento.

``python -m serving.bento`` imports the ``champion`` version of each model that has one
(``bentoml.mlflow.import_model``, labelled with the MLflow name, version and run, the
run's metrics in the metadata), writes ``build/bento/requirements.txt`` from ``uv.lock``
(BentoML's own locking would go to the network), and builds ``serving/bentofile.yaml``.
``--no-build`` stops after the import (the service then loads from the BentoML store
when no tracking URI is set and no embedded store exists).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from features.names import FORECASTER_MODEL
from features.scoring import NoChampionError
from serving.champions import MODEL_NAMES, mlflow_champion_version
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
BENTOFILE = ROOT / "serving" / "bentofile.yaml"
REQUIREMENTS = ROOT / "build" / "bento" / "requirements.txt"


def import_champion(name: str, tracking_uri: str) -> str:
    """Import the registry's champion of ``name`` into the BentoML store; its tag."""
    import bentoml
    import mlflow
    from mlflow import MlflowClient

    version = mlflow_champion_version(name, tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    run_id = client.get_model_version(name, version).run_id or ""
    metrics = dict(client.get_run(run_id).data.metrics) if run_id else {}
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    model = bentoml.mlflow.import_model(
        name,
        f"models:/{name}/{version}",
        labels={"mlflow_name": name, "mlflow_version": version, "mlflow_run_id": run_id},
        metadata={"metrics": metrics, "tracking_uri": tracking_uri},
    )
    log.info("imported %s v%s (run %s) as %s", name, version, run_id, model.tag)
    return str(model.tag)


def import_champions(settings: ServingSettings) -> list[str]:
    """Every model with a champion; the forecaster is required."""
    tags = []
    for name in MODEL_NAMES:
        try:
            tags.append(import_champion(name, settings.resolved_tracking_uri))
        except NoChampionError:
            if name == FORECASTER_MODEL:
                raise
            log.warning("no champion of %s: the Bento answers 503 for it", name)
    return tags


def export_requirements(out: Path = REQUIREMENTS) -> Path:
    """The locked runtime requirements (no dev tools, not the project itself)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    uv = [shutil.which("uv") or sys.executable, *([] if shutil.which("uv") else ["-m", "uv"])]
    subprocess.run(
        [
            *uv,
            "export",
            "--frozen",
            "--no-dev",
            "--no-hashes",
            "--no-emit-project",
            "--output-file",
            str(out),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return out


def build_bento() -> str:
    import bentoml

    bento = bentoml.bentos.build_bentofile(str(BENTOFILE), build_ctx=str(ROOT))
    return str(bento.tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.bento", description=__doc__)
    parser.add_argument("--no-build", action="store_true", help="only import the champions")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        tags = import_champions(ServingSettings())
    except NoChampionError as exc:
        log.error("%s", exc)
        return 1
    log.info("models in the BentoML store: %s", ", ".join(tags))
    if not args.no_build:
        export_requirements()
        log.info("built Bento %s (serve it with: bentoml serve %s)", tag := build_bento(), tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
