"""load_dataset: coercion of CSV and Parquet exports to the typed frames
of features.data.dataset."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.data import DataContractError, load_dataset
from features.data.dataset import COLUMNS, TABLES, UNKNOWN, Dataset, dtype_of, empty_frame
from tests.features.contract_data import valid_tables, write_tables, write_valid


def contract_names(table: str) -> list[str]:
    return [c.name for c in COLUMNS[table]]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """The valid dataset loaded from CSV."""
    return load_dataset(write_valid(tmp_path_factory.mktemp("baseline")))


def assert_same_frames(left: Dataset, right: Dataset) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(left.table(table), right.table(table))
    assert left.present == right.present


def test_frames_have_the_contract_dtypes_and_order(baseline: Dataset) -> None:
    for table in TABLES:
        frame = baseline.table(table)
        assert list(frame.columns) == contract_names(table)
        assert {c.name: str(dtype_of(c)) for c in COLUMNS[table]} == {
            name: str(dtype) for name, dtype in frame.dtypes.items()
        }
        assert isinstance(frame.index, pd.RangeIndex)
    assert baseline.present == frozenset(TABLES)
    assert baseline.bookings["amount"].tolist() == [1000.0, -200.0, 500.5, 750.0, 300.0, 1200.0]
    assert baseline.opportunities["registered"].tolist() == [True, False, True, False]
    assert baseline.last_date == pd.Timestamp("2024-06-30")


def test_rows_keep_file_order(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["bookings"] = tables["bookings"].iloc[::-1].reset_index(drop=True)
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.bookings["booked_on"].dt.strftime("%Y-%m-%d").tolist() == (
        tables["bookings"]["booked_on"].tolist()
    )


def test_extra_columns_are_kept_after_the_contract_columns(tmp_path: Path) -> None:
    tables = valid_tables()
    partners = tables["partners"]
    partners.insert(0, "Employees", ["10", "250", ""])
    partners["segment"] = [" smb ", "enterprise", "mid"]
    ds = load_dataset(write_tables(tmp_path, tables))
    assert list(ds.partners.columns) == [*contract_names("partners"), "employees", "segment"]
    assert ds.partners["segment"].tolist() == ["smb", "enterprise", "mid"]
    assert ds.partners["employees"].isna().tolist() == [False, False, True]
    # all numbers in CSV: a number, as from Parquet (not a 100-level text category)
    assert ds.partners["employees"].dtype == "float64"
    assert ds.partners["employees"].tolist()[:2] == [10.0, 250.0]


def test_extra_text_columns_stay_text_unless_every_value_is_a_number(tmp_path: Path) -> None:
    tables = valid_tables()
    partners = tables["partners"]
    partners["postcode"] = ["01234", "99999", "12345"]  # a leading zero: a code
    partners["mixed"] = ["12", "n/a", "7"]
    partners["score"] = ["1.5e3", "-2", " 3 "]
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.partners["postcode"].tolist() == ["01234", "99999", "12345"]
    assert ds.partners["mixed"].tolist() == ["12", "n/a", "7"]
    assert ds.partners["score"].tolist() == [1500.0, -2.0, 3.0]


def test_missing_optional_columns_get_their_defaults(tmp_path: Path) -> None:
    tables = valid_tables()
    optional = {t: [c.name for c in COLUMNS[t] if not c.required] for t in TABLES}
    for table, columns in optional.items():
        tables[table] = tables[table].drop(columns=columns)
    ds = load_dataset(write_tables(tmp_path, tables))
    for table in TABLES:
        assert list(ds.table(table).columns) == contract_names(table)
    assert (ds.partners["tier"] == UNKNOWN).all()
    assert ds.partners["name"].tolist() == ["P1", "P2", "P3"]
    assert ds.bookings["opportunity_id"].isna().all()
    assert ds.opportunities["expected_close_on"].isna().all()
    assert not ds.opportunities["registered"].any()
    assert ds.activities["quantity"].tolist() == [1.0, 1.0, 1.0]
    assert ds.activities["amount"].tolist() == [0.0, 0.0, 0.0]
    assert not ds.incentives["randomized"].any()
    assert str(ds.opportunities["registered"].dtype) == "bool"


def test_empty_optional_values_get_their_defaults(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["partners"].loc[1, ["tier", "name"]] = ["", "  "]
    tables["activities"].loc[0, ["quantity", "amount"]] = ["", ""]
    tables["opportunities"].loc[2, "registered"] = ""
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.partners.loc[1, "tier"] == UNKNOWN
    assert ds.partners.loc[1, "name"] == "P2"
    assert (ds.activities.loc[0, "quantity"], ds.activities.loc[0, "amount"]) == (1.0, 0.0)
    assert not ds.opportunities.loc[2, "registered"]


def test_absent_optional_tables_are_empty_frames(tmp_path: Path) -> None:
    tables = valid_tables()
    for table in ("opportunities", "activities", "incentives"):
        del tables[table]
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.present == frozenset({"partners", "bookings"})
    for table in ("opportunities", "activities", "incentives"):
        pd.testing.assert_frame_equal(ds.table(table), empty_frame(table))


def test_header_only_optional_table_is_present_and_empty(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["incentives"] = tables["incentives"].iloc[0:0]
    ds = load_dataset(write_tables(tmp_path, tables))
    assert "incentives" in ds.present
    pd.testing.assert_frame_equal(ds.incentives, empty_frame("incentives"))


def test_status_and_text_are_normalised(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["opportunities"]["status"] = ["Won", " LOST", " OPEN ", "oPeN"]
    tables["bookings"].loc[0, "partner_id"] = "  P1 "
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.opportunities["status"].tolist() == ["won", "lost", "open", "open"]
    assert ds.bookings.loc[0, "partner_id"] == "P1"


def test_timestamps_are_truncated_to_the_date_as_written(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["bookings"]["booked_on"] = [
        "2024-01-10T23:30:00+05:00",
        "2024-02-11 08:15:00",
        "2024-03-05T00:00:00Z",
        "2024-05-20T23:59:59.999-08:00",
        "2024-04-01T12:00",
        " 2024-06-30 ",
    ]
    ds = load_dataset(write_tables(tmp_path, tables))
    expected = ["2024-01-10", "2024-02-11", "2024-03-05", "2024-05-20", "2024-04-01", "2024-06-30"]
    assert ds.bookings["booked_on"].tolist() == [pd.Timestamp(d) for d in expected]
    assert str(ds.bookings["booked_on"].dtype) == "datetime64[ns]"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["TRUE", "no", "t", "0"], [True, False, True, False]),
        (["Yes", "F", "1", "false"], [True, False, True, False]),
    ],
)
def test_booleans_accept_common_spellings(tmp_path: Path, cells, expected) -> None:
    tables = valid_tables()
    tables["opportunities"]["registered"] = cells
    ds = load_dataset(write_tables(tmp_path, tables))
    assert ds.opportunities["registered"].tolist() == expected


def test_uppercase_column_and_file_names_are_accepted(tmp_path: Path, baseline: Dataset) -> None:
    tables = {t: f.rename(columns=lambda c: f" {c.upper()} ") for t, f in valid_tables().items()}
    write_tables(tmp_path, tables)
    (tmp_path / "partners.csv").rename(tmp_path / "Partners.CSV")
    assert_same_frames(load_dataset(tmp_path), baseline)


def test_parquet_loads_like_csv(tmp_path: Path, baseline: Dataset) -> None:
    """Raw text in Parquet, and natively typed Parquet, load to the CSV's frames."""
    text = write_tables(tmp_path / "text", valid_tables(), fmt="parquet")
    assert_same_frames(load_dataset(text), baseline)
    typed = tmp_path / "typed"
    typed.mkdir()
    for table in TABLES:
        baseline.table(table).to_parquet(typed / f"{table}.parquet", index=False)
    assert_same_frames(load_dataset(typed), baseline)


def _write_parts(folder: Path, table: str, frame: pd.DataFrame, sizes: list[int]) -> None:
    (folder / table).mkdir()
    start = 0
    for i, size in enumerate(sizes):
        frame.iloc[start : start + size].to_parquet(folder / table / f"part-{i:05d}.parquet")
        start += size


def test_a_folder_of_parquet_parts_loads_like_one_file(tmp_path: Path, baseline: Dataset) -> None:
    """``bookings/part-*.parquet`` is the table in part-name order (row numbers run on)."""
    folder = write_tables(tmp_path / "parts", valid_tables(), fmt="parquet")
    bookings = pd.read_parquet(folder / "bookings.parquet")
    (folder / "bookings.parquet").unlink()
    _write_parts(folder, "bookings", bookings, [1, 0, len(bookings) - 1])
    (folder / "bookings" / "_SUCCESS").write_text("")  # writers' markers are ignored
    assert_same_frames(load_dataset(folder), baseline)
    bad = valid_tables()["bookings"]
    bad.loc[len(bad) - 1, "amount"] = "lots"
    (folder / "bookings" / "part-00002.parquet").unlink()
    bad.iloc[1:].to_parquet(folder / "bookings" / "part-00002.parquet")
    with pytest.raises(DataContractError) as caught:
        load_dataset(folder)
    problem = caught.value.report.problems[0]
    assert (problem.table, problem.column, problem.check) == ("bookings", "amount", "unparseable")
    assert [e["row"] for e in problem.examples] == [len(bad)]  # counted across the parts


@pytest.mark.parametrize(
    ("arrange", "says"),
    [
        ("empty", "cannot read bookings/: the folder holds no .parquet parts"),
        ("both", "more than one file for the table (bookings, bookings.parquet)"),
        ("columns", "part part-00001.parquet has other columns than part-00000.parquet"),
        ("garbage", "cannot read bookings/: part part-00001.parquet:"),
    ],
)
def test_broken_parts_are_reported_by_table_and_part(tmp_path: Path, arrange, says) -> None:
    folder = write_tables(tmp_path, valid_tables(), fmt="parquet")
    bookings = pd.read_parquet(folder / "bookings.parquet")
    if arrange != "both":
        (folder / "bookings.parquet").unlink()
    if arrange == "empty":
        (folder / "bookings").mkdir()
    else:
        _write_parts(folder, "bookings", bookings, [1, len(bookings) - 1])
    if arrange == "columns":
        bookings.iloc[1:].drop(columns=["amount"]).to_parquet(
            folder / "bookings" / "part-00001.parquet"
        )
    if arrange == "garbage":
        (folder / "bookings" / "part-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataContractError) as caught:
        load_dataset(folder)
    problems = caught.value.report.problems
    assert [p.table for p in problems] == ["bookings"], str(caught.value)
    assert says in problems[0].message, problems[0].message


def test_parquet_timezone_aware_timestamps_keep_their_local_date(tmp_path: Path) -> None:
    tables = valid_tables()
    stamps = pd.to_datetime(tables["bookings"]["booked_on"]) + pd.Timedelta(hours=23)
    tables["bookings"]["booked_on"] = stamps.dt.tz_localize("Asia/Tokyo")
    tables["bookings"]["amount"] = tables["bookings"]["amount"].astype(float)
    write_tables(tmp_path, valid_tables())
    (tmp_path / "bookings.csv").unlink()
    tables["bookings"].to_parquet(tmp_path / "bookings.parquet", index=False)
    ds = load_dataset(tmp_path)
    expected = pd.to_datetime(valid_tables()["bookings"]["booked_on"]).astype("datetime64[ns]")
    pd.testing.assert_series_equal(ds.bookings["booked_on"], expected)


def test_other_files_and_truth_folder_are_ignored(tmp_path: Path, baseline: Dataset) -> None:
    write_valid(tmp_path)
    (tmp_path / "_truth").mkdir()
    (tmp_path / "_truth" / "partners.csv").write_text("garbage\n\x00\x01")
    (tmp_path / "README.txt").write_text("exported from the PRM")
    (tmp_path / "bookings_backup.csv").write_text("not,a,table\n")
    assert_same_frames(load_dataset(tmp_path), baseline)


def test_utf8_with_byte_order_mark_is_read(tmp_path: Path, baseline: Dataset) -> None:
    write_valid(tmp_path)
    path = tmp_path / "partners.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert_same_frames(load_dataset(tmp_path), baseline)


def test_invalid_data_raises_with_the_full_report(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["bookings"].loc[0, "amount"] = "lots"
    tables["incentives"].loc[0, "cost"] = "-1"
    with pytest.raises(DataContractError) as caught:
        load_dataset(write_tables(tmp_path, tables))
    assert isinstance(caught.value, ValueError)
    checks = [(p.table, p.check) for p in caught.value.report.problems]
    assert checks == [("bookings", "unparseable"), ("incentives", "negative")]
    assert "bookings.amount" in str(caught.value)
    assert caught.value.report.dataset is None


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(DataContractError, match="does not exist"):
        load_dataset(tmp_path / "missing")


def test_numeric_ids_in_parquet_read_as_text(tmp_path: Path) -> None:
    """Ids stored as numbers (floats once a column has gaps) still match across tables."""
    tables = valid_tables()
    tables["partners"]["partner_id"] = [1001, 1002, 1003]
    bookings = tables["bookings"]
    bookings["partner_id"] = bookings["partner_id"].map({"P1": 1001.0, "P2": 1002.0, "P3": 1003.0})
    for name in ("opportunities", "activities", "incentives"):
        del tables[name]
    ds = load_dataset(write_tables(tmp_path, tables, fmt="parquet"))
    assert ds.partners["partner_id"].tolist() == ["1001", "1002", "1003"]
    assert ds.bookings["partner_id"].tolist() == ["1001", "1001", "1002", "1002", "1003", "1001"]
