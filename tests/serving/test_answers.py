"""The incentive endpoints' glue, in process, against a stand-in recommender scorer.

The recommender has no champion yet (the HTTP tests check the 503); these pin down how
its scoring object's frames become answers once it has one.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from features.names import RECOMMENDER_MODEL
from features.scoring import UnknownPartnersError
from serving import answers
from serving.answers import ApiError
from serving.champions import Champion, Loaded
from serving.schemas import RankRequest, RecommendRequest


class FakeRecommender:
    as_of = pd.Timestamp("2023-12-31")

    def recommend(self, partner_ids, *, budget, allowed, cost_overrides) -> pd.DataFrame:
        if partner_ids and "BAD" in partner_ids:
            raise UnknownPartnersError(["BAD"])
        if budget == 1:
            raise ValueError("budget too small to matter")
        return pd.DataFrame(
            {
                "partner_id": ["P1", "P2"],
                "incentive": ["mdf", "none"],
                "expected_uplift": [500.0, 0.0],
                "cost": [100.0, 0.0],
                "expected_net": [400.0, 0.0],
                "uplift_mdf": [500.0, 50.0],
                "cost_mdf": [100.0, 80.0],
                "uplift_spiff": [300.0, 10.0],
                "cost_spiff": [50.0, 20.0],
            }
        )

    def rank(self, *, top_k, region, tier, partner_type) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "partner_id": ["P1", "P2"],
                "rank": [1, 2],
                "score": [400.0, 0.0],
                "reasons": ["mdf nets 400; forecast growth 20 next quarter", "none pays"],
            }
        )
        return frame.head(top_k)


@pytest.fixture
def loaded() -> Loaded:
    champion = Champion(
        name=RECOMMENDER_MODEL,
        version="3",
        run_id="r",
        scorer=FakeRecommender(),
        metrics={},
        source="test",
        as_of=dt.date(2023, 12, 31),
    )
    return Loaded(models={RECOMMENDER_MODEL: champion})


def test_recommend_lists_every_option_best_first(loaded: Loaded) -> None:
    out = answers.recommend(loaded, RecommendRequest(), max_batch=10)
    assert out.model_version == "3" and (out.total_cost, out.total_expected_net) == (100, 400)
    first = out.recommendations[0]
    assert (first.partner_id, first.incentive, first.expected_net) == ("P1", "mdf", 400.0)
    assert [(o.incentive, o.expected_net) for o in first.options] == [
        ("mdf", 400.0),
        ("spiff", 250.0),
    ]


def test_recommend_errors_say_what_to_fix(loaded: Loaded) -> None:
    with pytest.raises(ApiError) as unknown:
        answers.recommend(loaded, RecommendRequest(partner_ids=["P1", "BAD"]), max_batch=10)
    assert unknown.value.status == 404 and unknown.value.body["unknown_partner_ids"] == ["BAD"]
    with pytest.raises(ApiError) as bad:
        answers.recommend(loaded, RecommendRequest(budget=1), max_batch=10)
    assert bad.value.status == 422
    with pytest.raises(ApiError) as big:
        answers.recommend(loaded, RecommendRequest(partner_ids=["P1", "P2", "P3"]), max_batch=2)
    assert big.value.status == 413


def test_rank_splits_reasons(loaded: Loaded) -> None:
    out = answers.rank(loaded, RankRequest(top_k=1), max_batch=10)
    assert [(p.partner_id, p.rank) for p in out.partners] == [("P1", 1)]
    assert out.partners[0].reasons == ["mdf nets 400", "forecast growth 20 next quarter"]
