"""The pandera schemas of the contract, checked on hand-built typed frames."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.data import load_dataset
from features.data.contract import (
    NON_NEGATIVE,
    ROW_RULES,
    STATUSES,
    contract_schemas,
    row_rule,
    table_schema,
)
from features.data.dataset import COLUMNS, TABLES, Dataset, dtype_of, empty_frame
from features.data.validation import check_table
from tests.features.contract_data import write_valid


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return load_dataset(write_valid(tmp_path_factory.mktemp("typed")))


def failures(table: str, frame: pd.DataFrame, partner_ids=None) -> set[tuple[str, str]]:
    """(column, check) of every problem the schema finds."""
    return {(p.column, p.check) for p in check_table(table, frame, partner_ids)}


def test_schemas_follow_the_dataset_spec() -> None:
    schemas = contract_schemas()
    assert set(schemas) == set(TABLES)
    for table, schema in schemas.items():
        assert list(schema.columns) == [c.name for c in COLUMNS[table]]
        for column in COLUMNS[table]:
            # pandera's string dtype stands for text of either pandas flavour ("str" or
            # "string"); the loader's tests pin the exact flavour of dataset.COLUMNS
            assert str(schema.columns[column.name].dtype).startswith(dtype_of(column))
        assert schema.strict is False
        assert schema.coerce is False


def test_empty_frames_are_valid() -> None:
    for table, schema in contract_schemas(partner_ids=[]).items():
        schema.validate(empty_frame(table), lazy=True)


def test_loaded_frames_are_valid_with_foreign_keys(typed: Dataset) -> None:
    ids = typed.partners["partner_id"]
    for table, schema in contract_schemas(ids).items():
        schema.validate(typed.table(table), lazy=True)


def test_extra_columns_are_allowed(typed: Dataset) -> None:
    partners = typed.partners.assign(employees=[10, 20, 30], segment=["a", "b", None])
    assert failures("partners", partners) == set()


def test_wrong_dtype_is_caught(typed: Dataset) -> None:
    bookings = typed.bookings.assign(amount=typed.bookings["amount"].astype(str))
    (problem,) = check_table("bookings", bookings)
    assert (problem.column, problem.check, problem.count) == ("amount", "dtype", None)
    assert "float64" in problem.message


@pytest.mark.parametrize(
    ("table", "column"), [(t, c) for t, cols in NON_NEGATIVE.items() for c in cols]
)
def test_non_negative_columns(typed: Dataset, table: str, column: str) -> None:
    frame = typed.table(table).copy()
    if frame.empty:  # targets: absent from the fixture; one valid row
        frame = pd.DataFrame(
            {
                "quarter_start": [pd.Timestamp("2024-01-01")],
                "level": ["total"],
                "key": [None],
                "target": [1.0],
            }
        ).astype({"level": "string", "key": "string"})
    frame.loc[0, column] = -0.01
    assert failures(table, frame) == {(column, "negative")}


def test_bookings_amount_may_be_negative(typed: Dataset) -> None:
    bookings = typed.bookings.assign(amount=-typed.bookings["amount"])
    assert failures("bookings", bookings) == set()


def test_foreign_key_only_with_partner_ids(typed: Dataset) -> None:
    activities = typed.activities.copy()
    activities.loc[1, "partner_id"] = "ghost"
    assert failures("activities", activities) == set()
    assert failures("activities", activities, frozenset({"P1", "P2", "P3"})) == {
        ("partner_id", "foreign_key")
    }


def test_ids_are_unique_and_required(typed: Dataset) -> None:
    opps = typed.opportunities.copy()
    opps.loc[1, "opportunity_id"] = "O1"
    opps.loc[2, "opportunity_id"] = pd.NA
    assert failures("opportunities", opps) == {
        ("opportunity_id", "unique"),
        ("opportunity_id", "not_null"),
    }


def test_status_must_be_known(typed: Dataset) -> None:
    opps = typed.opportunities.copy()
    opps.loc[0, "status"] = "Won"  # the loader lower-cases; the schema sees typed values
    assert failures("opportunities", opps) == {("status", "status_values")}


def test_row_rules_skip_missing_columns(typed: Dataset) -> None:
    """A missing column is one problem, not also a crashed dataframe check."""
    opps = typed.opportunities.drop(columns="created_on")
    assert failures("opportunities", opps) == {("created_on", "missing_column")}


def test_row_numbers_are_positions_whatever_the_index(typed: Dataset) -> None:
    incentives = typed.incentives.copy()
    incentives.loc[1, "ends_on"] = pd.Timestamp("2020-01-01")
    incentives.index = [10, 20]
    (problem,) = check_table("incentives", incentives)
    assert problem.examples[0]["row"] == 2


def test_row_rule_lookup() -> None:
    assert row_rule("opportunities", "open_closed").column == "closed_on"
    assert row_rule("incentives", "date_order").columns == ("starts_on", "ends_on")
    assert row_rule("bookings", "date_order") is None
    assert set(ROW_RULES) == {"opportunities", "incentives", "targets"}
    with pytest.raises(KeyError):
        table_schema("deals")


dates = st.one_of(
    st.none(),
    st.dates(
        min_value=pd.Timestamp("2020-01-01").date(), max_value=pd.Timestamp("2020-12-31").date()
    ),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(dates, dates, st.sampled_from([*STATUSES, "other"])), max_size=8))
def test_opportunity_rules_match_a_row_by_row_oracle(rows: list) -> None:
    frame = pd.DataFrame(
        {
            "created_on": pd.to_datetime([r[0] for r in rows]).astype("datetime64[ns]"),
            "closed_on": pd.to_datetime([r[1] for r in rows]).astype("datetime64[ns]"),
            "status": pd.array([r[2] for r in rows], dtype="string"),
        }
    )
    order = row_rule("opportunities", "date_order").holds(frame).tolist()
    consistent = row_rule("opportunities", "open_closed").holds(frame).tolist()
    for (created, closed, status), ok_order, ok_state in zip(rows, order, consistent, strict=True):
        assert ok_order == (created is None or closed is None or closed >= created)
        assert ok_state == (status not in STATUSES or (status == "open") == (closed is None))


def test_frames_written_by_hand_validate() -> None:
    """A frame built directly with the spec dtypes (not through the loader) passes."""
    partners = pd.DataFrame(
        {
            c.name: pd.Series(
                ["x"] if c.kind == "str" else [pd.Timestamp("2024-01-01")], dtype=dtype_of(c)
            )
            for c in COLUMNS["partners"]
        }
    )
    assert failures("partners", partners) == set()
