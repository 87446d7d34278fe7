"""``partnercast train`` killed (SIGKILL, no clean-up) at several points of a retrain.

After each kill the registry must still serve: ``champion`` points at a complete model
that loads and forecasts, and it is the previous one whenever the kill came before the
new version was registered. The kill points are found by watching the command's own
progress lines on stderr, as an operator's watchdog would see them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from features.names import CHAMPION, FORECASTER_MODEL, RECOMMENDER_MODEL
from features.scoring import load_champion

pytestmark = pytest.mark.xdist_group("crash-safety")
PARTNERCAST = Path(sys.executable).with_name("partnercast")


def _train(workdir: Path, data: Path, *, kill_at: str | None = None) -> tuple[int, str]:
    """Run ``partnercast train``; with ``kill_at`` (a regex), SIGKILL it when a line matches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}
    process = subprocess.Popen(
        [str(PARTNERCAST), "train", "--data", str(data)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        seen.append(line)
        if kill_at is not None and re.search(kill_at, line):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=600)
    return process.returncode, "".join(seen)


def _versions(store: str, name: str) -> tuple[str | None, list[str]]:
    client = MlflowClient(store, store)
    try:
        champion = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:
        champion = None
    versions = client.search_model_versions(f"name='{name}'")
    return champion, sorted(str(v.version) for v in versions)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small_world_dir: Path) -> Path:
    """A working directory whose embedded store has v1 of both models as champions."""
    workdir = tmp_path_factory.mktemp("crash")
    code, err = _train(workdir, small_world_dir)
    assert code == 0, err[-3000:]
    return workdir


@pytest.mark.parametrize(
    ("kill_at", "before_registration"),
    [
        ("backtest fold 2/", True),
        ("fitting the forecaster", True),
        (f"Created version '\\d+' of model '{FORECASTER_MODEL}'", False),
        (f"{FORECASTER_MODEL} v\\d+ is now {CHAMPION}", False),
    ],
)
def test_a_killed_retrain_leaves_a_champion_that_serves(
    trained: Path, small_world_dir: Path, kill_at: str, before_registration: bool
) -> None:
    store = f"sqlite:///{trained / 'mlruns' / 'mlflow.db'}"
    before = {name: _versions(store, name) for name in (FORECASTER_MODEL, RECOMMENDER_MODEL)}
    started = time.monotonic()
    code, err = _train(trained, small_world_dir, kill_at=kill_at)
    assert code == -signal.SIGKILL, f"never reached {kill_at!r}:\n{err[-3000:]}"
    assert time.monotonic() - started < 600

    for name in (FORECASTER_MODEL, RECOMMENDER_MODEL):
        champion, versions = _versions(store, name)
        assert champion is not None, name
        if before_registration:
            assert (champion, versions) == before[name], name
        loaded = load_champion(name, store)  # a complete model behind the alias
        assert loaded.version == champion
    forecaster = load_champion(FORECASTER_MODEL, store).model.forecaster
    answer = forecaster.forecast([str(forecaster.partner_ids[0])], 2)
    assert len(answer) == 2 and (answer["p10"] <= answer["p90"]).all()

    # the next retrain after a crash works and the registry stays consistent
    if "is now" in kill_at:
        code, err = _train(trained, small_world_dir)
        assert code == 0, err[-3000:]
        champion, versions = _versions(store, FORECASTER_MODEL)
        assert champion in versions and len(versions) >= 3
