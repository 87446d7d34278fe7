"""validate_folder: every contract rule broken alone is reported alone, precisely."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import Problem, ValidationReport, summarize_dataset, validate_folder
from tests.features.contract_data import RawTables, valid_tables, write_tables, write_valid

Mutation = Callable[[RawTables], None]


def set_cell(table: str, row: int, column: str, value: str) -> Mutation:
    """Set a 0-based data row's cell (reported as row ``row + 1``)."""

    def mutate(tables: RawTables) -> None:
        tables[table].loc[row, column] = value

    return mutate


def copy_row(table: str, row: int) -> Mutation:
    def mutate(tables: RawTables) -> None:
        frame = tables[table]
        tables[table] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)

    return mutate


def drop_column(table: str, column: str) -> Mutation:
    def mutate(tables: RawTables) -> None:
        tables[table] = tables[table].drop(columns=column)

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(tables: RawTables) -> None:
        for m in mutations:
            m(tables)

    return mutate


# (mutation, table, column, check, count): each breaks exactly one contract rule.
RULES: dict[str, tuple[Mutation, str, str | None, str, int | None]] = {
    "partner_id empty": (
        both(copy_row("partners", 0), set_cell("partners", 3, "partner_id", "")),
        "partners",
        "partner_id",
        "not_null",
        1,
    ),
    "partner_id duplicate": (copy_row("partners", 0), "partners", "partner_id", "unique", 2),
    "joined_on empty": (
        set_cell("partners", 2, "joined_on", ""),
        "partners",
        "joined_on",
        "not_null",
        1,
    ),
    "joined_on not a date": (
        set_cell("partners", 0, "joined_on", "15/01/2023"),
        "partners",
        "joined_on",
        "unparseable",
        1,
    ),
    "partners column missing": (
        drop_column("partners", "joined_on"),
        "partners",
        "joined_on",
        "missing_column",
        None,
    ),
    "bookings unknown partner": (
        set_cell("bookings", 3, "partner_id", "P9"),
        "bookings",
        "partner_id",
        "foreign_key",
        1,
    ),
    "bookings partner empty": (
        set_cell("bookings", 0, "partner_id", " "),
        "bookings",
        "partner_id",
        "not_null",
        1,
    ),
    "booked_on not a date": (
        set_cell("bookings", 1, "booked_on", "2024-13-01"),
        "bookings",
        "booked_on",
        "unparseable",
        1,
    ),
    "booked_on empty": (
        set_cell("bookings", 1, "booked_on", ""),
        "bookings",
        "booked_on",
        "not_null",
        1,
    ),
    "bookings amount not a number": (
        set_cell("bookings", 2, "amount", "12abc"),
        "bookings",
        "amount",
        "unparseable",
        1,
    ),
    "bookings amount empty": (
        set_cell("bookings", 2, "amount", ""),
        "bookings",
        "amount",
        "not_null",
        1,
    ),
    "bookings amount missing": (
        drop_column("bookings", "amount"),
        "bookings",
        "amount",
        "missing_column",
        None,
    ),
    "opportunity_id duplicate": (
        set_cell("opportunities", 3, "opportunity_id", "O3"),
        "opportunities",
        "opportunity_id",
        "unique",
        2,
    ),
    "opportunity_id empty": (
        set_cell("opportunities", 3, "opportunity_id", ""),
        "opportunities",
        "opportunity_id",
        "not_null",
        1,
    ),
    "opportunity unknown partner": (
        set_cell("opportunities", 0, "partner_id", "PX"),
        "opportunities",
        "partner_id",
        "foreign_key",
        1,
    ),
    "created_on not a date": (
        set_cell("opportunities", 0, "created_on", "yesterday"),
        "opportunities",
        "created_on",
        "unparseable",
        1,
    ),
    "closed before created": (
        set_cell("opportunities", 1, "closed_on", "2024-01-01"),
        "opportunities",
        "closed_on",
        "date_order",
        1,
    ),
    "open with closed_on": (
        set_cell("opportunities", 2, "closed_on", "2024-06-01"),
        "opportunities",
        "closed_on",
        "open_closed",
        1,
    ),
    "won without closed_on": (
        set_cell("opportunities", 0, "closed_on", ""),
        "opportunities",
        "closed_on",
        "open_closed",
        1,
    ),
    "closed_on column missing": (
        drop_column("opportunities", "closed_on"),
        "opportunities",
        "closed_on",
        "missing_column",
        None,
    ),
    "status unknown": (
        set_cell("opportunities", 1, "status", "pending"),
        "opportunities",
        "status",
        "status_values",
        1,
    ),
    "status empty": (
        set_cell("opportunities", 2, "status", ""),
        "opportunities",
        "status",
        "not_null",
        1,
    ),
    "opportunity amount negative": (
        set_cell("opportunities", 1, "amount", "-1"),
        "opportunities",
        "amount",
        "negative",
        1,
    ),
    "opportunity amount empty": (
        set_cell("opportunities", 1, "amount", ""),
        "opportunities",
        "amount",
        "not_null",
        1,
    ),
    "expected_close_on not a date": (
        set_cell("opportunities", 0, "expected_close_on", "soon"),
        "opportunities",
        "expected_close_on",
        "unparseable",
        1,
    ),
    "registered not a boolean": (
        set_cell("opportunities", 0, "registered", "maybe"),
        "opportunities",
        "registered",
        "unparseable",
        1,
    ),
    "activity unknown partner": (
        set_cell("activities", 2, "partner_id", "P4"),
        "activities",
        "partner_id",
        "foreign_key",
        1,
    ),
    "occurred_on empty": (
        set_cell("activities", 0, "occurred_on", ""),
        "activities",
        "occurred_on",
        "not_null",
        1,
    ),
    "activity empty": (
        set_cell("activities", 1, "activity", ""),
        "activities",
        "activity",
        "not_null",
        1,
    ),
    "quantity negative": (
        set_cell("activities", 1, "quantity", "-2"),
        "activities",
        "quantity",
        "negative",
        1,
    ),
    "quantity not a number": (
        set_cell("activities", 1, "quantity", "five"),
        "activities",
        "quantity",
        "unparseable",
        1,
    ),
    "activity amount negative": (
        set_cell("activities", 2, "amount", "-250"),
        "activities",
        "amount",
        "negative",
        1,
    ),
    "incentive unknown partner": (
        set_cell("incentives", 0, "partner_id", "nobody"),
        "incentives",
        "partner_id",
        "foreign_key",
        1,
    ),
    "incentive empty": (
        set_cell("incentives", 0, "incentive", ""),
        "incentives",
        "incentive",
        "not_null",
        1,
    ),
    "starts_on not a date": (
        set_cell("incentives", 1, "starts_on", "Q2"),
        "incentives",
        "starts_on",
        "unparseable",
        1,
    ),
    "ends before start": (
        set_cell("incentives", 1, "ends_on", "2024-03-31"),
        "incentives",
        "ends_on",
        "date_order",
        1,
    ),
    "ends_on empty": (
        set_cell("incentives", 1, "ends_on", ""),
        "incentives",
        "ends_on",
        "not_null",
        1,
    ),
    "cost negative": (
        set_cell("incentives", 0, "cost", "-100"),
        "incentives",
        "cost",
        "negative",
        1,
    ),
    "cost empty": (set_cell("incentives", 0, "cost", ""), "incentives", "cost", "not_null", 1),
    "none not randomized": (
        both(
            set_cell("incentives", 1, "incentive", "None"),
            set_cell("incentives", 1, "cost", "0"),
        ),
        "incentives",
        "randomized",
        "none_randomized",
        1,
    ),
    "none with a cost": (
        set_cell("incentives", 0, "incentive", "none"),
        "incentives",
        "cost",
        "none_cost",
        1,
    ),
    "randomized not a boolean": (
        set_cell("incentives", 0, "randomized", "2"),
        "incentives",
        "randomized",
        "unparseable",
        1,
    ),
    "header-only bookings": (
        lambda t: t.__setitem__("bookings", t["bookings"].iloc[0:0]),
        "bookings",
        None,
        "empty_table",
        None,
    ),
    "partners file missing": (
        lambda t: t.pop("partners"),
        "partners",
        None,
        "missing_table",
        None,
    ),
}


def validate_broken(tmp_path: Path, mutation: Mutation) -> ValidationReport:
    tables = valid_tables()
    mutation(tables)
    return validate_folder(write_tables(tmp_path / "data", tables))


def report_for(tmp_path: Path, mutation: Mutation) -> list[Problem]:
    return list(validate_broken(tmp_path, mutation).problems)


def test_valid_dataset_has_no_problems(tmp_path: Path) -> None:
    report = validate_folder(write_valid(tmp_path))
    assert report.ok, report.format()
    assert report.dataset is not None
    assert report.format().endswith("follows the contract")


@pytest.mark.parametrize("case", list(RULES))
def test_each_rule_is_reported_alone(tmp_path: Path, case: str) -> None:
    mutation, table, column, check, count = RULES[case]
    report = validate_broken(tmp_path, mutation)
    problems = list(report.problems)
    assert [(p.table, p.column, p.check, p.count) for p in problems] == [
        (table, column, check, count)
    ]
    problem = problems[0]
    if count is not None:
        assert len(problem.examples) == count
        assert all("row" in e for e in problem.examples)
    assert f"{problem.where}: {problem.message}" in report.format()


def test_examples_name_the_row_in_the_file_and_the_value(tmp_path: Path) -> None:
    (problem,) = report_for(tmp_path, set_cell("bookings", 2, "amount", "12abc"))
    assert problem.examples == ({"row": 3, "amount": "12abc"},)
    assert "e.g. row 3: '12abc'" in problem.format()


def test_row_rule_examples_show_the_columns_involved(tmp_path: Path) -> None:
    (problem,) = report_for(tmp_path, set_cell("opportunities", 1, "closed_on", "2024-01-01"))
    assert problem.examples == ({"row": 2, "created_on": "2024-02-01", "closed_on": "2024-01-01"},)


def test_credit_notes_are_valid(tmp_path: Path) -> None:
    assert report_for(tmp_path, set_cell("bookings", 0, "amount", "-5000")) == []


def test_unparseable_closed_on_is_reported_once(tmp_path: Path) -> None:
    problems = report_for(tmp_path, set_cell("opportunities", 0, "closed_on", "10/01/2024"))
    assert [(p.column, p.check) for p in problems] == [("closed_on", "unparseable")]


def test_unparseable_required_value_is_not_also_a_null(tmp_path: Path) -> None:
    problems = report_for(tmp_path, set_cell("incentives", 0, "ends_on", "end of Q1"))
    assert [(p.column, p.check) for p in problems] == [("ends_on", "unparseable")]


def test_problems_in_several_tables_are_all_reported(tmp_path: Path) -> None:
    problems = report_for(
        tmp_path,
        both(
            set_cell("partners", 0, "joined_on", "never"),
            set_cell("bookings", 1, "partner_id", "P9"),
            set_cell("opportunities", 2, "status", "maybe"),
            set_cell("activities", 0, "quantity", "-1"),
            set_cell("incentives", 1, "ends_on", "2020-01-01"),
            drop_column("bookings", "booked_on"),
        ),
    )
    found = {(p.table, p.column, p.check) for p in problems}
    assert found == {
        ("partners", "joined_on", "unparseable"),
        ("bookings", "partner_id", "foreign_key"),
        ("bookings", "booked_on", "missing_column"),
        ("opportunities", "status", "status_values"),
        ("activities", "quantity", "negative"),
        ("incentives", "ends_on", "date_order"),
    }


def test_examples_are_capped_at_five(tmp_path: Path) -> None:
    tables = valid_tables()
    bookings = pd.concat([tables["bookings"]] * 3, ignore_index=True)
    bookings["amount"] = "n/a"
    tables["bookings"] = bookings
    (problem,) = validate_folder(write_tables(tmp_path, tables)).problems
    assert problem.count == 18
    assert [e["row"] for e in problem.examples] == [1, 2, 3, 4, 5]
    assert problem.format().endswith(", ...")


def test_non_utf8_csv_is_unreadable(tmp_path: Path) -> None:
    write_valid(tmp_path)
    text = "partner_id,occurred_on,activity\nP1,2024-01-01,café\n"
    (tmp_path / "activities.csv").write_bytes(text.encode("latin-1"))
    (problem,) = validate_folder(tmp_path).problems
    assert (problem.table, problem.check) == ("activities", "unreadable")
    assert "UTF-8" in problem.message


def test_garbage_parquet_is_unreadable(tmp_path: Path) -> None:
    write_valid(tmp_path)
    (tmp_path / "incentives.csv").unlink()
    (tmp_path / "incentives.parquet").write_bytes(b"PAR1 this is not parquet \x00\x01\x02")
    (problem,) = validate_folder(tmp_path).problems
    assert (problem.table, problem.check) == ("incentives", "unreadable")
    assert "incentives.parquet" in problem.message


def test_broken_csv_is_unreadable(tmp_path: Path) -> None:
    write_valid(tmp_path)
    (tmp_path / "bookings.csv").write_text("partner_id,booked_on,amount\nP1,2024-01-01,1,2,3,4\n")
    problems = validate_folder(tmp_path).problems
    assert [(p.table, p.check) for p in problems] == [("bookings", "unreadable")]


def test_csv_and_parquet_for_one_table_is_a_problem(tmp_path: Path) -> None:
    tables = valid_tables()
    write_tables(tmp_path, tables)
    write_tables(tmp_path, {"activities": tables["activities"]}, fmt="parquet")
    (problem,) = validate_folder(tmp_path).problems
    assert (problem.table, problem.check) == ("activities", "duplicate_file")


def test_missing_folder_and_file_instead_of_folder(tmp_path: Path) -> None:
    (missing,) = validate_folder(tmp_path / "nope").problems
    assert (missing.table, missing.check) == (None, "missing_folder")
    (tmp_path / "file.csv").write_text("x\n")
    (not_dir,) = validate_folder(tmp_path / "file.csv").problems
    assert not_dir.check == "not_a_folder"


def test_empty_folder_reports_both_required_tables(tmp_path: Path) -> None:
    problems = validate_folder(tmp_path).problems
    assert [(p.table, p.check) for p in problems] == [
        ("partners", "missing_table"),
        ("bookings", "missing_table"),
    ]


def test_report_is_json_able(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["opportunities"].loc[0, "closed_on"] = "2020-01-01"
    report = validate_folder(write_tables(tmp_path, tables))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["problems"][0]["examples"] == [
        {"row": 1, "created_on": "2023-12-01", "closed_on": "2020-01-01"}
    ]


def test_summary_fits_a_screen(tmp_path: Path) -> None:
    tables = valid_tables()
    del tables["activities"]
    report = validate_folder(write_tables(tmp_path, tables))
    assert report.dataset is not None
    summary = summarize_dataset(report.dataset, QuarterCalendar(2))
    assert len(summary.splitlines()) <= 15
    assert "absent" in summary.splitlines()[4]  # activities
    assert "2023-12-01 .. 2024-06-30" in summary
    assert "FY2024-Q4 .. FY2025-Q2" in summary  # fiscal year starting in February
    assert "3,550.50" in summary
    assert "1 of 6 rows" in summary


def test_same_column_twice_in_different_case_is_a_problem(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["activities"]["Quantity"] = ["2", "2", "2"]
    (problem,) = validate_folder(write_tables(tmp_path, tables)).problems
    assert (problem.table, problem.column, problem.check) == (
        "activities",
        "quantity",
        "duplicate_column",
    )


def test_randomized_none_rows_are_valid(tmp_path: Path) -> None:
    """The control arm of a holdout test: ``none``, randomized, cost 0 (any case)."""
    tables = valid_tables()
    holdout = pd.DataFrame(
        {
            "partner_id": ["P1", "P2"],
            "incentive": ["none", "NONE"],
            "starts_on": ["2024-04-01", "2024-01-01"],
            "ends_on": ["2024-06-30", "2024-03-31"],
            "cost": ["0", "0.0"],
            "randomized": ["true", "TRUE"],
        },
        dtype=object,
    )
    tables["incentives"] = pd.concat([tables["incentives"], holdout], ignore_index=True)
    assert validate_folder(write_tables(tmp_path, tables)).problems == ()
