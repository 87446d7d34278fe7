"""A tiny typed-Dataset builder for feature tests (no loader involved)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from features.data.dataset import COLUMNS, Dataset, dtype_of


def frame(table: str, rows: Sequence[dict[str, Any]] = ()) -> pd.DataFrame:
    """A contract frame with exact dtypes; omitted optional columns take their defaults."""
    data: dict[str, pd.Series] = {}
    for col in COLUMNS[table]:
        values = [r.get(col.name, col.default) for r in rows]
        if col.name == "name":
            values = [r.get("name", r.get("partner_id")) for r in rows]
        data[col.name] = pd.Series(values, dtype=dtype_of(col))
        if col.kind == "date":
            data[col.name] = pd.to_datetime(pd.Series(values, dtype="object")).astype(
                "datetime64[ns]"
            )
    extra = sorted({k for r in rows for k in r} - {c.name for c in COLUMNS[table]})
    for name in extra:
        data[name] = pd.Series([r.get(name) for r in rows])
    return pd.DataFrame(data)


def dataset(
    partners: Sequence[dict[str, Any]],
    bookings: Sequence[dict[str, Any]] = (),
    opportunities: Sequence[dict[str, Any]] = (),
    activities: Sequence[dict[str, Any]] = (),
    incentives: Sequence[dict[str, Any]] = (),
) -> Dataset:
    """A Dataset from lists of row dicts (dates as ISO strings or None)."""
    return Dataset(
        partners=frame("partners", partners),
        bookings=frame("bookings", bookings),
        opportunities=frame("opportunities", opportunities),
        activities=frame("activities", activities),
        incentives=frame("incentives", incentives),
        present=frozenset({"partners", "bookings", "opportunities", "activities", "incentives"}),
    )


def hand_dataset() -> Dataset:
    """Three partners over 2023-2024 with numbers small enough to check on paper.

    A joined 2023-02-10 (gold reseller), B 2023-10-05 (silver reseller), C joins after
    the usual as-of date 2024-06-30. Rows dated after 2024-06-30 must never count.
    """
    A, B, C = "A", "B", "C"
    return dataset(
        partners=[
            dict(
                partner_id=A,
                joined_on="2023-02-10",
                tier="gold",
                partner_type="reseller",
                region="emea",
                employees=50,
                vertical_focus="health",
            ),
            dict(
                partner_id=B,
                joined_on="2023-10-05",
                tier="silver",
                partner_type="reseller",
                region="amer",
                employees=10,
                vertical_focus="retail",
            ),
            dict(
                partner_id=C,
                joined_on="2024-08-01",
                tier="diamond",
                partner_type="msp",
                region="apac",
                employees=5,
                vertical_focus="energy",
            ),
        ],
        bookings=[
            dict(partner_id=A, booked_on="2023-02-15", amount=100.0),
            dict(partner_id=A, booked_on="2023-05-20", amount=200.0),
            dict(partner_id=A, booked_on="2023-11-10", amount=300.0),
            dict(partner_id=A, booked_on="2023-12-05", amount=-50.0),
            dict(partner_id=A, booked_on="2024-03-10", amount=400.0),
            dict(partner_id=A, booked_on="2024-06-30", amount=500.0),
            dict(partner_id=A, booked_on="2024-07-01", amount=999.0),
            dict(partner_id=B, booked_on="2023-11-01", amount=80.0),
            dict(partner_id=B, booked_on="2024-04-15", amount=120.0),
            dict(partner_id=C, booked_on="2024-08-05", amount=70.0),
        ],
        opportunities=[
            dict(
                opportunity_id="o1",
                partner_id=A,
                created_on="2024-01-10",
                closed_on="2024-03-05",
                status="won",
                amount=1000.0,
            ),
            dict(
                opportunity_id="o2",
                partner_id=A,
                created_on="2024-02-01",
                closed_on="2024-05-10",
                status="lost",
                amount=400.0,
            ),
            dict(
                opportunity_id="o3",
                partner_id=A,
                created_on="2024-04-15",
                closed_on="2024-08-20",
                status="won",
                amount=700.0,
                expected_close_on="2024-07-31",
                registered=True,
            ),
            dict(
                opportunity_id="o4",
                partner_id=A,
                created_on="2023-11-01",
                closed_on=None,
                status="open",
                amount=300.0,
                expected_close_on="2024-05-31",
            ),
            dict(
                opportunity_id="o5",
                partner_id=A,
                created_on="2024-03-01",
                closed_on=None,
                status="open",
                amount=200.0,
                registered=True,
            ),
            dict(
                opportunity_id="o6",
                partner_id=A,
                created_on="2024-07-05",
                closed_on=None,
                status="open",
                amount=5000.0,
            ),
            dict(
                opportunity_id="o7",
                partner_id=A,
                created_on="2023-06-01",
                closed_on="2023-09-15",
                status="won",
                amount=600.0,
            ),
            dict(
                opportunity_id="o8",
                partner_id=B,
                created_on="2024-01-05",
                closed_on="2024-02-05",
                status="lost",
                amount=100.0,
            ),
            dict(
                opportunity_id="o9",
                partner_id=B,
                created_on="2024-06-01",
                closed_on=None,
                status="open",
                amount=900.0,
                expected_close_on="2025-01-15",
            ),
        ],
        activities=[
            dict(partner_id=A, occurred_on="2023-05-01", activity="certification_earned"),
            dict(partner_id=A, occurred_on="2023-12-01", activity="mdf_claim", amount=100.0),
            dict(partner_id=A, occurred_on="2024-02-01", activity="portal_login", quantity=2.0),
            dict(partner_id=A, occurred_on="2024-04-10", activity="certification_earned"),
            dict(partner_id=A, occurred_on="2024-05-05", activity="mdf_claim", amount=250.0),
            dict(partner_id=A, occurred_on="2024-06-01", activity="portal_login", quantity=3.0),
            dict(partner_id=A, occurred_on="2024-06-15", activity="mystery_type", quantity=9.0),
            dict(partner_id=A, occurred_on="2024-07-02", activity="portal_login", quantity=10.0),
        ],
        incentives=[
            dict(
                partner_id=A,
                incentive="rebate",
                starts_on="2023-01-05",
                ends_on="2023-03-31",
                cost=30.0,
            ),
            dict(
                partner_id=A,
                incentive="spiff",
                starts_on="2023-10-01",
                ends_on="2023-12-31",
                cost=50.0,
            ),
            dict(
                partner_id=A,
                incentive="rebate",
                starts_on="2024-04-10",
                ends_on="2024-06-30",
                cost=100.0,
                randomized=True,
            ),
            dict(
                partner_id=A,
                incentive="new_thing",
                starts_on="2024-05-01",
                ends_on="2024-09-30",
                cost=20.0,
            ),
            dict(
                partner_id=A,
                incentive="rebate",
                starts_on="2024-07-05",
                ends_on="2024-09-30",
                cost=999.0,
            ),
            dict(
                partner_id=B,
                incentive="spiff",
                starts_on="2024-04-20",
                ends_on="2024-06-30",
                cost=40.0,
            ),
            dict(
                partner_id=B,
                incentive="rebate",
                starts_on="2024-05-20",
                ends_on="2024-06-30",
                cost=60.0,
            ),
        ],
    )


def random_dataset(seed: int, n_partners: int = 6, n_rows: int = 40) -> Dataset:
    """A small random but contract-valid dataset (every row dated after its partner joined)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    first, last = np.datetime64("2022-01-01"), np.datetime64("2024-12-31")
    span = int((last - first).astype(int))

    def day(lo: np.datetime64) -> np.datetime64:
        return lo + int(rng.integers(0, max(int((last - lo).astype(int)), 1)))

    partners, joined = [], {}
    for i in range(n_partners):
        pid = f"P{i:02d}"
        joined[pid] = first + int(rng.integers(0, span * 2 // 3))
        partners.append(
            dict(
                partner_id=pid,
                joined_on=str(joined[pid]),
                tier=str(rng.choice(["gold", "silver"])),
                partner_type=str(rng.choice(["reseller", "msp"])),
                region=str(rng.choice(["emea", "amer"])),
            )
        )
    pids = list(joined)

    def pick() -> tuple[str, np.datetime64]:
        pid = pids[int(rng.integers(0, n_partners))]
        return pid, day(joined[pid])

    bookings, opps, acts, incs = [], [], [], []
    for _ in range(n_rows * 2):
        pid, d = pick()
        amount = float(np.round(rng.normal(100, 80), 2))
        bookings.append(dict(partner_id=pid, booked_on=str(d), amount=amount))
    for i in range(n_rows):
        pid, d = pick()
        closed = d + int(rng.integers(0, 300))
        is_open = rng.random() < 0.3 or closed > last
        expected = d + int(rng.integers(-30, 400)) if rng.random() < 0.7 else None
        opps.append(
            dict(
                opportunity_id=f"O{i:03d}",
                partner_id=pid,
                created_on=str(d),
                closed_on=None if is_open else str(closed),
                status="open" if is_open else str(rng.choice(["won", "lost"])),
                amount=float(np.round(rng.uniform(0, 1000), 2)),
                expected_close_on=None if expected is None else str(max(expected, d)),
                registered=bool(rng.random() < 0.5),
            )
        )
    for _ in range(n_rows):
        pid, d = pick()
        kind = str(rng.choice(["login", "training", "mdf_claim"]))
        acts.append(
            dict(
                partner_id=pid,
                occurred_on=str(d),
                activity=kind,
                quantity=float(rng.integers(1, 4)),
                amount=float(rng.integers(0, 500)) if kind == "mdf_claim" else 0.0,
            )
        )
    for _ in range(n_rows // 2):
        pid, d = pick()
        incs.append(
            dict(
                partner_id=pid,
                incentive=str(rng.choice(["rebate", "spiff", "mdf"])),
                starts_on=str(d),
                ends_on=str(d + 60),
                cost=float(rng.integers(10, 200)),
                randomized=bool(rng.random() < 0.3),
            )
        )
    return dataset(partners, bookings, opps, acts, incs)
