"""The load a busy PRM integration and a few planners put on the API (locust users).

Weights: single-partner forecasts dominate (a PRM page per partner view), then batch
forecasts, recommendations, group totals, ranking and KPIs. Partner ids come from
``PARTNERCAST_LOAD_PARTNERS`` (comma-separated, set by ``benchmarks/load.py`` from the
champion's partners); every non-2xx answer counts as an error.

The users are locust's ``FastHttpUser`` (geventhttpclient, cheaper per request than the
requests-based ``HttpUser`` it replaced): the load generator shares the service's two
cores, so its CPU is CPU the service does not have. The offered load (users, waits,
weights, bodies) is unchanged.
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, between, task

PARTNERS = [p for p in os.environ.get("PARTNERCAST_LOAD_PARTNERS", "P00001").split(",") if p]
KEY = os.environ.get("PARTNERCAST_API_KEY")


class Integration(FastHttpUser):
    wait_time = between(0.05, 0.2)
    default_headers = {"Authorization": f"Bearer {KEY}"} if KEY else None

    def on_start(self) -> None:
        self.random = random.Random(hash(self) & 0xFFFF)

    @task(10)
    def forecast_one(self) -> None:
        body = {"partner_ids": [self.random.choice(PARTNERS)], "horizon": 4}
        self.client.post("/forecast", json=body, name="/forecast (1 partner)")

    @task(3)
    def forecast_batch(self) -> None:
        body = {"partner_ids": self.random.sample(PARTNERS, min(50, len(PARTNERS)))}
        self.client.post("/forecast", json=body, name="/forecast (50 partners)")

    @task(3)
    def recommend(self) -> None:
        body = {"partner_ids": self.random.sample(PARTNERS, min(20, len(PARTNERS)))}
        self.client.post("/recommend", json=body)

    @task(2)
    def aggregate(self) -> None:
        group_by = self.random.choice(["region", "tier", "partner_type", "total"])
        self.client.post("/forecast/aggregate", json={"group_by": group_by, "horizon": 4})

    @task(1)
    def rank(self) -> None:
        self.client.post("/rank", json={"top_k": 50})

    @task(1)
    def kpis(self) -> None:
        self.client.post("/kpis", json={"group_by": self.random.choice(["region", "tier"])})
