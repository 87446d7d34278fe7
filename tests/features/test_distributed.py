"""The Dask path's feature frames (``features.distributed``) equal the single-process ones.

A LocalCluster of two workers (threads: fast to start) over a small simulated world cut into
three partitions of partners: the cross-partner features (segment win rates, the regional
seasonal index) are pooled over the partitions, so every frame matches the one built from
the whole dataset in one process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import load_dataset
from features.frames import (
    build_features,
    build_forecast_frame,
    build_recommender_frame,
    build_scoring_frame,
    fit_feature_spec,
)
from features.world import simulate_world, write_world

pytest.importorskip("distributed")

from features.distributed import (  # noqa: E402
    DaskFrames,
    dask_client,
    parse_dask,
    partition_dataset,
    partition_ids,
)

CROSS_PARTNER = ("segment_win_rate_8q", "win_rate_shrunk_8q", "seasonal_index_target_q")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("dask_world")
    write_world(simulate_world(partners=90, quarters=10, seed=4), out)
    ds = load_dataset(out)
    as_of = ds.as_of()
    spec = fit_feature_spec(ds, as_of=as_of, calendar=QuarterCalendar())
    return ds, spec, as_of


@pytest.fixture(scope="module")
def client():
    with dask_client("local:2", processes=False) as client:
        yield client


@pytest.fixture(scope="module")
def frames(world, client):
    return DaskFrames(client, world[0], parts=3)


def _same(dask_frame: pd.DataFrame, single: pd.DataFrame) -> None:
    assert list(dask_frame.columns) == list(single.columns)
    assert len(dask_frame) == len(single) > 0
    pd.testing.assert_frame_equal(dask_frame, single, check_exact=False, rtol=1e-6, atol=1e-9)


def test_forecast_frame_equals_single_process(world, frames) -> None:
    ds, spec, as_of = world
    single = build_forecast_frame(ds, spec=spec, horizons=4, data_end=as_of)
    on_dask = frames.forecast_frame(ds, spec=spec, horizons=4, data_end=as_of)
    _same(on_dask, single)
    # the pooled features are not the partitions' own: one partition alone gives others
    part = partition_dataset(ds, partition_ids(ds, 3)[0])
    alone = build_forecast_frame(part, spec=spec, horizons=4, data_end=as_of)
    mine = single.loc[single["partner_id"].isin(set(part.partners["partner_id"]))]
    differs = [c for c in CROSS_PARTNER if not np.allclose(alone[c].to_numpy(), mine[c].to_numpy())]
    assert differs, "a partition alone should not reproduce the pooled features"


def test_scoring_and_recommender_frames_equal_single_process(world, frames) -> None:
    ds, spec, as_of = world
    _same(
        frames.scoring_frame(ds, as_of=as_of, spec=spec, horizon=4),
        build_scoring_frame(ds, as_of=as_of, spec=spec, horizon=4),
    )
    _same(
        frames.recommender_frame(ds, spec=spec, data_end=as_of),
        build_recommender_frame(ds, spec=spec, data_end=as_of),
    )
    _same(frames.features(ds, as_of=as_of, spec=spec), build_features(ds, as_of=as_of, spec=spec))


def test_one_partner_per_partition(world, client) -> None:
    """Partitions with no row at early cutoffs (partners who joined late), or none at all."""
    whole, spec, as_of = world
    ds = partition_dataset(whole, partition_ids(whole, 1)[0][:16])
    frames = DaskFrames(client, ds, parts=16)
    assert len(frames.partitions) == 16
    _same(
        frames.forecast_frame(ds, spec=spec, horizons=4, data_end=as_of),
        build_forecast_frame(ds, spec=spec, horizons=4, data_end=as_of),
    )


@pytest.mark.parametrize("text", ["local", "local:3", "tcp://10.0.0.1:8786"])
def test_parse_dask_accepts(text: str) -> None:
    assert parse_dask(text) == text


@pytest.mark.parametrize("text", ["", "local:0", "local:x"])
def test_parse_dask_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dask(text)
