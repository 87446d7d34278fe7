"""Answers computed once and remembered must be the answers computed per request.

The service answers its busiest endpoints from memory (``serving.forecast_table``, the
champions' memo, the KPI tables): the numbers must equal the library's call for every
argument, a new champion must answer with its own numbers at once (a remembered answer
of the old one is a defect), and the KPI table must follow the ledger and the dataset.
"""

from __future__ import annotations

import datetime as dt
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from features.names import FORECASTER_MODEL, RECOMMENDER_MODEL
from features.reporting import ForecastLedger, forecast_rows
from features.scoring import GROUP_LEVELS, MAX_HORIZON
from features.scoring.recommender import PartnerRecommender
from serving import answers, kpis
from serving.answers import ApiError
from serving.champions import Champion, Champions, Loaded, ModelUnavailable
from serving.forecast_table import FIELDS, ForecastTable
from serving.kpis import KpiSource
from serving.schemas import (
    AggregateRequest,
    ForecastRequest,
    KpiRequest,
    RankRequest,
    RecommendRequest,
)
from serving.settings import ServingSettings

from .conftest import Store, champion_forecaster

pytestmark = pytest.mark.xdist_group("serving-answer-memory")


# -- the forecaster's table ----------------------------------------------------------
@pytest.fixture(scope="module")
def forecaster(trained_store: Store):
    return champion_forecaster(trained_store)


@pytest.fixture(scope="module")
def table(forecaster) -> ForecastTable:
    table = ForecastTable(forecaster)
    table.warm()
    return table


def _rows(frame: pd.DataFrame, key: str) -> list[tuple]:
    dates = [ts.date() for ts in pd.to_datetime(frame["quarter_start"])]
    return list(
        zip(
            frame[key].astype(str),
            dates,
            frame["horizon"].astype(int),
            frame["p10"].astype(float),
            frame["p50"].astype(float),
            frame["p90"].astype(float),
            strict=True,
        )
    )


@pytest.mark.parametrize("horizon", range(1, MAX_HORIZON + 1))
def test_group_totals_of_every_level_and_horizon_are_the_librarys(
    table: ForecastTable, forecaster, horizon: int
) -> None:
    # sampled once at the longest horizon; a shorter one is its first rows, exactly
    for level in GROUP_LEVELS:
        got = [(g, *row) for g, row in table.aggregate(level, horizon)]
        assert got == _rows(forecaster.aggregate(level, horizon, num_threads=1), "group")


def test_partner_rows_are_the_librarys_in_the_order_asked(table: ForecastTable, forecaster):
    ids = [str(p) for p in forecaster.partner_ids[:5]]
    asked = [ids[3], ids[0], ids[3], ids[4]]  # a duplicate is answered once
    for horizon in (1, 3):
        got = [(pid, *row) for pid, row in table.forecast(asked, horizon)]
        assert got == _rows(forecaster.forecast(asked, horizon, num_threads=1), "partner_id")
    assert {pid for pid, _ in table.forecast(asked, 1)} == {ids[0], ids[3], ids[4]}
    assert FIELDS == ("quarter_start", "horizon", "p10", "p50", "p90")


# -- the recommender's memo ------------------------------------------------------------
def _recommender(scale: float) -> PartnerRecommender:
    """Four partners, two incentives (with intervals): P3 pays for nothing."""
    options = pd.DataFrame(
        {
            "partner_id": ["P1", "P2", "P3", "P4"],
            "uplift_mdf": [500.0, 90.0, 10.0, 300.0],
            "cost_mdf": [100.0, 100.0, 100.0, 120.0],
            "uplift_spiff": [300.0, 160.0, 5.0, 310.0],
            "cost_spiff": [50.0, 40.0, 30.0, 60.0],
        }
    )
    for name in ("mdf", "spiff"):
        options[f"uplift_{name}"] *= scale
        options[f"p10_uplift_{name}"] = options[f"uplift_{name}"] * 0.5
        options[f"p90_uplift_{name}"] = options[f"uplift_{name}"] * 1.5
    return PartnerRecommender(
        options=options,
        attributes=pd.DataFrame(
            {
                "partner_id": ["P1", "P2", "P3", "P4"],
                "region": ["EMEA", "AMER", "EMEA", "AMER"],
                "tier": ["gold", "gold", "silver", "silver"],
                "partner_type": ["reseller"] * 4,
            }
        ),
        growth=pd.Series([20.0, -5.0, 0.0, 7.0], index=["P1", "P2", "P3", "P4"]),
        as_of=pd.Timestamp("2023-12-31"),
        growth_weight=0.5,
    )


def _champion(version: str, scale: float) -> Champion:
    return Champion(
        name=RECOMMENDER_MODEL,
        version=version,
        run_id=f"run-{version}",
        scorer=_recommender(scale),
        metrics={},
        source="test",
        as_of=dt.date(2023, 12, 31),
    )


@pytest.mark.parametrize("partner_ids", [None, ["P4", "P1", "P4"], ["P3"]])
def test_remembered_recommendations_are_the_scorers(partner_ids) -> None:
    loaded = Loaded(models={RECOMMENDER_MODEL: _champion("1", 1.0)})
    fast = answers.recommend(loaded, RecommendRequest(partner_ids=partner_ids), max_batch=10)
    # an empty cost override is the same question asked through the scorer's frame
    framed = RecommendRequest(partner_ids=partner_ids, costs={})
    slow = answers.recommend(loaded, framed, max_batch=10)
    assert fast.model_dump_json() == slow.model_dump_json()
    again = answers.recommend(loaded, RecommendRequest(partner_ids=partner_ids), max_batch=10)
    assert again.model_dump_json() == fast.model_dump_json()
    if partner_ids is None:
        assert [r.partner_id for r in fast.recommendations] == ["P1", "P2", "P3", "P4"]
        assert [r.incentive for r in fast.recommendations] == ["mdf", "spiff", "none", "spiff"]
        assert fast.total_cost == 100.0 + 40.0 + 0.0 + 60.0


def test_remembered_recommendations_still_refuse_unknown_ids() -> None:
    loaded = Loaded(models={RECOMMENDER_MODEL: _champion("1", 1.0)})
    with pytest.raises(ApiError) as unknown:
        answers.recommend(loaded, RecommendRequest(partner_ids=["P2", "NOPE", "AAA"]), max_batch=10)
    assert unknown.value.status == 404
    assert unknown.value.body["unknown_partner_ids"] == ["AAA", "NOPE"]


@pytest.mark.parametrize(
    "filters", [{}, {"region": "EMEA"}, {"tier": "silver", "region": "AMER"}, {"region": "NOWHERE"}]
)
def test_remembered_rankings_are_the_scorers_for_every_top_k(filters) -> None:
    champion = _champion("1", 1.0)
    loaded = Loaded(models={RECOMMENDER_MODEL: champion})
    for top_k in (1, 2, 3, 10):
        got = answers.rank(loaded, RankRequest(top_k=top_k, **filters), max_batch=10).partners
        expected = champion.scorer.rank(top_k=top_k, **filters)
        assert [p.partner_id for p in got] == expected["partner_id"].astype(str).tolist()
        assert [p.rank for p in got] == expected["rank"].tolist()
        np.testing.assert_array_equal([p.score for p in got], expected["score"].to_numpy())
    assert answers.rank(loaded, RankRequest(top_k=3), max_batch=2).partners[-1].rank == 2


def test_a_new_champion_answers_with_its_own_numbers(monkeypatch) -> None:
    """POST /reload's path: the memo belongs to the champion object it was made by."""
    versions = {"now": "1"}
    warmed: list[list[str]] = []
    monkeypatch.setattr(Champions, "_identity", lambda self, name: versions["now"])
    monkeypatch.setattr(Champions, "_loaded_identity", lambda self, champion: champion.version)

    def load(self, name: str) -> Champion:
        if name == FORECASTER_MODEL:
            raise ModelUnavailable("no forecaster in this test")
        return _champion(versions["now"], float(versions["now"]))

    monkeypatch.setattr(Champions, "_load", load)
    champions = Champions(
        ServingSettings(reload_seconds=0),
        on_load=lambda fresh: warmed.append([c.version for c in fresh]),
    )

    def ask() -> tuple:
        loaded = champions.current
        rec = answers.recommend(loaded, RecommendRequest(partner_ids=["P1"]), max_batch=10)
        ranked = answers.rank(loaded, RankRequest(top_k=1), max_batch=10)
        return rec.model_version, rec.recommendations[0].expected_net, ranked.partners[0].score

    champions.refresh()
    first = ask()
    assert ask() == first and first[0] == "1"
    champions.refresh()  # nothing new: the same champion and its memo
    assert warmed == [["1"]] and ask() == first
    versions["now"] = "2"  # a promotion: uplifts doubled
    champions.refresh()
    second = ask()
    assert warmed == [["1"], ["2"]]
    assert second[0] == "2" and second[1] == 2 * 500.0 - 100.0 and second[2] != first[2]


# -- the KPI table ----------------------------------------------------------------
def test_kpis_follow_the_ledger_and_the_dataset(trained_store: Store, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(trained_store.root / "demo", data, ignore=shutil.ignore_patterns("_truth"))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    made: list[str | None] = []
    real = kpis.channel_kpis
    monkeypatch.setattr(
        kpis, "channel_kpis", lambda ds, **kw: made.append(kw["group_by"]) or real(ds, **kw)
    )
    clock = {"now": 1000.0}
    monkeypatch.setattr(kpis, "time", SimpleNamespace(monotonic=lambda: clock["now"]))
    source = KpiSource(ServingSettings(data_dir=data, ledger_url=url, reload_seconds=0))
    loaded = Loaded()  # no champions: partner forecasts come from the ledger only
    request = KpiRequest()

    first = source.answer(loaded, request, max_batch=10_000)
    assert source.answer(loaded, request, max_batch=10_000) is first and made == [None]
    clock["now"] += 5  # past the 1 s window: the ledger is read again, unchanged
    assert source.answer(loaded, request, max_batch=10_000) is first and made == [None]

    # a start-of-quarter forecast recorded for one partner: a new table shows it
    partner = first.kpis[0].partner_id
    quarter = pd.Timestamp(first.quarter_start)
    forecast = pd.DataFrame(
        {
            "partner_id": [partner],
            "quarter_start": [quarter],
            "horizon": [1],
            "p10": [1.0],
            "p50": [123_456.0],
            "p90": [2e5],
        }
    )
    with ForecastLedger(url) as ledger:
        ledger.record(
            forecast_rows(
                forecast,
                source="cli",
                model_name=FORECASTER_MODEL,
                model_version="7",
                run_id="r",
                as_of=quarter - pd.Timedelta(days=1),
            )
        )
    assert source.answer(loaded, request, max_batch=10_000) is first  # within the window
    clock["now"] += 5
    second = source.answer(loaded, request, max_batch=10_000)
    assert made == [None, None]
    row = next(k for k in second.kpis if k.partner_id == partner)
    assert row.forecast_model_version == "7"

    # the dataset changes (its last booking goes): the next answer is made from it
    bookings = data / "bookings.csv"
    lines = bookings.read_text(encoding="utf-8").splitlines(keepends=True)
    bookings.write_text("".join(lines[:-1]), encoding="utf-8")
    third = source.answer(loaded, request, max_batch=10_000)
    assert made == [None, None, None] and third is not second


# -- which answers skip the worker thread ------------------------------------------
def test_only_answers_already_in_memory_are_quick(forecaster) -> None:
    """``answers.quick`` picks what the event loop may answer itself: never a model run
    (drivers), a first sampling, an uncached ranking or a large batch."""
    table = ForecastTable(forecaster)
    forecasting = Champion(
        name=FORECASTER_MODEL,
        version="1",
        run_id="r",
        scorer=forecaster,
        metrics={},
        source="test",
        as_of=dt.date(2023, 12, 31),
        table=table,
    )
    recommending = _champion("1", 1.0)
    loaded = Loaded(models={FORECASTER_MODEL: forecasting, RECOMMENDER_MODEL: recommending})
    ids = [str(p) for p in forecaster.partner_ids[:3]]

    assert answers.quick(loaded, ForecastRequest(partner_ids=ids))
    assert not answers.quick(loaded, ForecastRequest(partner_ids=ids, explain=True))
    assert not answers.quick(loaded, ForecastRequest(partner_ids=[f"P{i}" for i in range(101)]))
    region = AggregateRequest(group_by="region")
    assert not answers.quick(loaded, region)  # not sampled yet: seconds of work
    table.aggregate("region", 4)
    assert answers.quick(loaded, region)
    assert not answers.quick(loaded, AggregateRequest(group_by="tier"))

    plain, ranked = RecommendRequest(partner_ids=["P1"]), RankRequest(top_k=2)
    assert not answers.quick(loaded, plain) and not answers.quick(loaded, ranked)
    answers.warm([recommending])
    assert answers.quick(loaded, plain) and answers.quick(loaded, ranked)
    assert not answers.quick(loaded, RecommendRequest(partner_ids=["P1"], budget=10.0))
    assert not answers.quick(loaded, RecommendRequest())  # every partner: a large answer
    assert not answers.quick(loaded, RankRequest(region="EMEA"))
    assert answers.quick(Loaded(), plain)  # no recommender: the answer is a quick 503


def test_kpi_tables_kept_are_bounded(trained_store: Store, tmp_path, monkeypatch):
    """Any past as-of may be asked: the tables kept are the MAX_TABLES asked last."""
    data = tmp_path / "data"
    shutil.copytree(trained_store.root / "demo", data, ignore=shutil.ignore_patterns("_truth"))
    made: list[pd.Timestamp] = []
    monkeypatch.setattr(
        kpis, "channel_kpis", lambda ds, **kw: made.append(kw["as_of"]) or pd.DataFrame()
    )
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    source = KpiSource(ServingSettings(data_dir=data, ledger_url=url, reload_seconds=3600))
    days = pd.date_range("2022-01-01", periods=kpis.MAX_TABLES + 1, freq="D")
    for day in days:
        source.table(Loaded(), day, None)
    assert len(made) == kpis.MAX_TABLES + 1
    source.table(Loaded(), days[-1], None)  # kept: not made again
    source.table(Loaded(), days[1], None)  # kept, and now the most recently asked
    assert len(made) == kpis.MAX_TABLES + 1
    source.table(Loaded(), days[0], None)  # the least recently asked went: made again
    assert made[-1] == days[0] and len(made) == kpis.MAX_TABLES + 2
    source.table(Loaded(), days[1], None)  # survived the eviction its asking protected
    assert len(made) == kpis.MAX_TABLES + 2
