"""serving.dataset_child: the service's dataset read in a child process, the same as
``load_dataset`` in this one; an invalid one fails with the contract's report."""

from __future__ import annotations

import pandas as pd
import pytest

from features.data import load_dataset
from serving.answers import ApiError
from serving.dataset_child import InvalidDataset, load_apart
from serving.kpis import KpiSource
from serving.settings import ServingSettings
from tests.features.contract_data import valid_tables, write_tables, write_valid


def test_the_child_reads_what_load_dataset_reads(tmp_path) -> None:
    folder = write_valid(tmp_path / "data")
    here, apart = load_dataset(folder), load_apart(folder)
    for table in ("partners", "bookings", "opportunities", "activities", "incentives"):
        pd.testing.assert_frame_equal(getattr(apart, table), getattr(here, table))
    assert apart.last_date == here.last_date


def test_an_invalid_dataset_names_table_column_and_row(tmp_path) -> None:
    tables = valid_tables()
    tables["bookings"].loc[1, "amount"] = "lots"
    folder = write_tables(tmp_path / "data", tables)
    with pytest.raises(InvalidDataset) as caught:
        load_apart(folder)
    assert "bookings" in str(caught.value) and "amount" in str(caught.value)


def test_kpis_answer_503_with_the_report_for_an_invalid_dataset(tmp_path) -> None:
    tables = valid_tables()
    tables["bookings"].loc[1, "amount"] = "lots"
    folder = write_tables(tmp_path / "data", tables)
    source = KpiSource(ServingSettings(data_dir=folder, ledger_url="sqlite://"))
    with pytest.raises(ApiError) as caught:
        source.dataset()
    assert caught.value.status == 503
    assert "is invalid" in caught.value.body["error"] and "amount" in caught.value.body["error"]
