"""Overrides: stored beside the model's numbers (SQLite and PostgreSQL), applied by hand.

Roll-ups worked on paper: partners A (EU), B (EU), C (US) with model P50s 100, 200, 300
in Q1; overrides A -> 130 and C -> 250 give EU +30, US -50, total -20.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from features.data import BadInput
from features.reporting import ForecastLedger, ledger
from features.reporting.overrides import (
    OverrideBook,
    apply_group_overrides,
    apply_partner_overrides,
    model_p50,
)

Q1, Q2 = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-04-01")
GROUPS = pd.Series({"A": "EU", "B": "EU", "C": "US"})


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'ledger.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def add(book: OverrideBook, level: str, key: str, p50: float, p50_model: float, **kw):
    return book.add(
        level=level,
        key=key,
        quarter_start=kw.pop("quarter_start", Q1),
        p50=p50,
        p50_model=p50_model,
        reason=kw.pop("reason", "because"),
        author=kw.pop("author", "pat"),
        role="planner",
        model_name="partnercast-forecaster",
        model_version="3",
    )


def test_books_opened_at_once_on_a_new_database(url):
    """A fresh server's first requests open the book from several threads at once: each
    one may find the tables missing and then meet the other's (fuzzing found a 500)."""
    barrier, errors = threading.Barrier(8), []

    def open_book() -> None:
        barrier.wait()
        try:
            OverrideBook(url).close()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_book) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    book = OverrideBook(url)
    add(book, "partner", "A", 130.0, 100.0)
    assert book.overrides()["key"].tolist() == ["A"]


def test_a_schema_race_lost_is_tried_again(tmp_path, monkeypatch):
    """Another process created the tables between our check and create: no error."""
    real, calls = ledger.metadata.create_all, []

    def raced(*args, **kwargs):
        calls.append(kwargs.get("tables"))
        if len(calls) == 1:
            real(*args, **kwargs)  # the other one wins ...
            raise sa.exc.OperationalError("CREATE TABLE audit", {}, Exception("already exists"))
        return real(*args, **kwargs)  # ... and the second try finds the tables

    monkeypatch.setattr(ledger.metadata, "create_all", raced)
    book = OverrideBook(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert len(calls) == 2
    add(book, "partner", "A", 130.0, 100.0)
    assert len(book.overrides()) == 1


def test_book_keeps_history_and_audit(url):
    book = OverrideBook(url)
    first = add(book, "partner", "A", 130, 100)
    second = add(book, "partner", "A", 140, 100, author="ana")  # replaces the first
    add(book, "region", "EU", 400, 300, quarter_start=Q2)
    active = book.overrides()
    assert active["override_id"].tolist() == [second["override_id"], active.iloc[1]["override_id"]]
    everything = book.overrides(active_only=False).set_index("override_id")
    assert everything.loc[first["override_id"], "removed_by"] == "ana"
    assert book.overrides(key="EU", quarter_start=Q2)["p50"].tolist() == [400.0]
    assert book.remove(second["override_id"], actor="ada", role="admin")
    assert not book.remove(second["override_id"], actor="ada", role="admin")
    assert book.overrides(key="A").empty
    book.record("reload", actor="ada", role="admin", detail={"forecaster": "3"})
    audit = book.audit()
    assert audit["action"].tolist() == [
        "override_add", "override_add", "override_add", "override_remove", "reload"
    ]  # fmt: skip
    assert audit["actor"].tolist() == ["pat", "ana", "pat", "ada", "ada"]
    book.close()
    again = OverrideBook(url)  # a restart: everything is still there
    assert len(again.overrides(active_only=False)) == 3
    again.close()


def test_overrides_share_the_ledger_database(url):
    with ForecastLedger(url) as ledger:
        assert ledger.forecasts().empty
    book = OverrideBook(url)
    add(book, "total", "total", 1.0, 2.0)
    with ForecastLedger(url) as ledger:
        assert ledger.forecasts().empty  # the model's numbers are untouched
    assert len(book.overrides()) == 1


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(reason="  "), "needs a reason"),
        (dict(level="planet"), "level must be"),
        (dict(key=""), "partner id or a group"),
        (dict(p50=float("nan")), "p50 must be a number"),
    ],
)
def test_bad_overrides_write_nothing(tmp_path, kw, message):
    book = OverrideBook(f"sqlite:///{tmp_path / 'ledger.db'}")
    args = dict(level="partner", key="A", p50=1.0, p50_model=2.0, reason="r")
    args.update(kw)
    with pytest.raises(BadInput, match=message):
        book.add(**args, quarter_start=Q1, author="pat", role="planner", model_name="m",
                 model_version="1")  # fmt: skip
    assert book.overrides(active_only=False).empty and book.audit().empty


def _overrides(tmp_path, *rows):
    book = OverrideBook(f"sqlite:///{tmp_path / 'ledger.db'}")
    for level, key, p50, model in rows:
        add(book, level, key, p50, model)
    return book.overrides()


def test_partner_overrides_set_p50_final(tmp_path):
    active = _overrides(tmp_path, ("partner", "A", 130, 100), ("partner", "C", 250, 300))
    forecasts = pd.DataFrame(
        {
            "partner_id": ["A", "A", "B", "C"],
            "quarter_start": [Q1, Q2, Q1, Q1],
            "p50": [100.0, 110.0, 200.0, 300.0],
        }
    )
    out = apply_partner_overrides(forecasts, active)
    assert out["p50_final"].tolist() == [130, 110, 200, 250]
    assert out["p50"].tolist() == [100, 110, 200, 300]  # the model's numbers stay
    assert out["override_id"].notna().tolist() == [True, False, False, True]


def test_group_roll_ups_by_hand(tmp_path):
    active = _overrides(
        tmp_path,
        ("partner", "A", 130, 100),  # +30 in EU
        ("partner", "C", 250, 300),  # -50 in US
        ("region", "US", 500, 300),  # the US group itself
    )
    groups = pd.DataFrame({"group": ["EU", "US"], "quarter_start": [Q1, Q1], "p50": [300.0, 300.0]})
    out = apply_group_overrides(groups, "region", active, GROUPS).set_index("group")
    assert out.loc["EU", "partner_adjustment"] == 30
    assert out.loc["EU", "p50_final"] == 330
    assert pd.isna(out.loc["EU", "override_gap_to_partners"])
    assert out.loc["US", "partner_adjustment"] == -50
    assert out.loc["US", "p50_final"] == 500  # the group override stands
    assert out.loc["US", "override_gap_to_partners"] == 500 - (300 - 50)
    total = pd.DataFrame({"group": ["total"], "quarter_start": [Q1], "p50": [600.0]})
    out = apply_group_overrides(total, "total", active, pd.Series("total", index=GROUPS.index))
    assert out.loc[0, "partner_adjustment"] == -20
    assert out.loc[0, "p50_final"] == 580


def test_model_p50_names_the_quarters_it_knows():
    rows = pd.DataFrame({"quarter_start": [Q1, Q2], "p50": [1.0, 2.0]})
    assert model_p50(rows, Q2, "partner A") == 2.0
    with pytest.raises(BadInput, match="2024-01-01, 2024-04-01"):
        model_p50(rows, pd.Timestamp("2025-01-01"), "partner A")
