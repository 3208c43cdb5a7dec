"""Reading logs in each format into the canonical schema, and every bad-input error."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from rfm_pipeline.core.cleaning import clean_transactions
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.ingest import (
    CANONICAL_SCHEMA,
    given_columns,
    read_transactions,
    summarise,
)
from rfm_pipeline_tests.conftest import UCI_ROWS, split_by_month, uci_frame


def read(con, path, **options) -> pd.DataFrame:
    return read_transactions(con, path, **options).execute()


def test_parquet_reads_into_the_canonical_schema(con, uci_parquet):
    table = read_transactions(con, uci_parquet)
    assert table.schema() == CANONICAL_SCHEMA
    frame = table.execute()
    assert frame["line_no"].tolist() == list(range(len(UCI_ROWS)))
    assert frame["customer_id"].tolist()[:2] == ["17850", "17850"]
    assert frame["invoice_date"].iloc[0] == pd.Timestamp("2010-12-01 08:26")
    assert frame["customer_id"].isna().sum() == 1


def test_the_studys_csv_reads_with_its_encoding_and_us_dates(con, tmp_path):
    frame = uci_frame(UCI_ROWS[:2]).assign(
        Description=["CAFÉ SIGN", "LANTERN"], InvoiceDate=["12/1/2010 8:26", "12/13/2010 14:05"]
    )
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False, encoding="latin-1")
    result = read(con, path, encoding="ISO-8859-1")
    assert result["description"].tolist() == ["CAFÉ SIGN", "LANTERN"]
    assert result["invoice_date"].tolist() == [
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2010-12-13 14:05"),
    ]
    assert result["customer_id"].tolist() == ["17850", "17850"]
    assert result["quantity"].dtype == "int64"


def test_excel_reads_like_parquet(con, tmp_path):
    path = tmp_path / "data.xlsx"
    uci_frame(UCI_ROWS).to_excel(path, index=False)
    result = read(con, path)
    expected = read(con, _parquet(tmp_path, uci_frame(UCI_ROWS)))
    pd.testing.assert_frame_equal(result, expected)


def test_other_column_names_are_recognised_or_mapped(con, tmp_path):
    frame = uci_frame(UCI_ROWS).rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    frame = frame.rename(columns={"Quantity": "Qty"})
    result = read(con, _parquet(tmp_path, frame), column_map={"Qty": "quantity"})
    assert result["invoice_no"].iloc[0] == "536365"
    assert result["unit_price"].iloc[0] == 2.55
    assert result["quantity"].tolist() == [r[3] for r in UCI_ROWS]


def test_minimal_log_with_an_amount_and_no_invoice_numbers(con, tmp_path):
    frame = pd.DataFrame(
        {
            "client": ["A1", "A1", "B2"],
            "when": ["2011-01-05 10:00:00", "2011-01-05 16:00:00", "2011-01-06 09:00:00"],
            "amount": [10.0, 5.5, 7.0],
        }
    )
    result = read(
        con,
        _parquet(tmp_path, frame),
        column_map={"client": "customer_id", "when": "invoice_date"},
    )
    assert result["invoice_no"].tolist() == ["20110105-A1", "20110105-A1", "20110106-B2"]
    assert result["quantity"].tolist() == [1, 1, 1]
    assert result["unit_price"].tolist() == [10.0, 5.5, 7.0]
    assert result["stock_code"].isna().all()


def test_made_invoice_numbers_never_look_like_cancellations(con, tmp_path):
    frame = pd.DataFrame(
        {
            "customer_id": ["C17", "C17", "CUST-2"],
            "invoice_date": ["20230102"] * 3,
            "amount": ["10", "5", "7"],
        }
    )
    raw = read_transactions(con, _parquet(tmp_path, frame))
    assert raw.execute()["invoice_no"].tolist() == [
        "20230102-C17",
        "20230102-C17",
        "20230102-CUST-2",
    ]
    assert clean_transactions(raw).table.count().execute() == 3  # no line a cancellation


def test_given_columns_are_what_the_lines_hold(con, tmp_path, uci_parquet):
    three = pd.DataFrame(
        {"customer_id": ["1", "2"], "invoice_date": ["20230102", "20230103"], "amount": [1, 2]}
    )
    (tmp_path / "three").mkdir()
    given = given_columns(read_transactions(con, _parquet(tmp_path / "three", three)))
    assert given == ["invoice_date", "amount", "customer_id"]
    assert given_columns(read_transactions(con, uci_parquet)) == list(CANONICAL_SCHEMA.names[1:])


def test_customer_ids_lose_a_floats_trailing_zero(con, tmp_path):
    frame = uci_frame(UCI_ROWS[:3]).assign(CustomerID=["17850.0", "17850", " 12583 "])
    result = read(con, _parquet(tmp_path, frame))
    assert result["customer_id"].tolist() == ["17850", "17850", "12583"]


def test_summary_counts_the_log(con, uci_parquet):
    summary = summarise(read_transactions(con, uci_parquet))
    assert summary["rows"] == 7
    assert summary["customers"] == 2
    assert summary["invoices"] == 6
    assert summary["products"] == 5
    assert summary["nulls"]["customer_id"] == 1
    assert summary["first_invoice_date"] == dt.datetime(2010, 12, 1, 8, 26)


# bad input: each case one InputError whose message names the file, the column and examples


def test_missing_file(con, tmp_path):
    with pytest.raises(InputError, match=r"nothere\.parquet: file not found"):
        read_transactions(con, tmp_path / "nothere.parquet")


def test_truncated_parquet(con, tmp_path, uci_parquet):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(uci_parquet.read_bytes()[:200])
    with pytest.raises(InputError, match=r"broken\.parquet: cannot read the file"):
        read_transactions(con, broken)


def test_missing_required_column(con, tmp_path):
    path = _parquet(tmp_path, uci_frame(UCI_ROWS).drop(columns=["CustomerID"]))
    with pytest.raises(InputError, match=r"missing required column customer_id") as error:
        read_transactions(con, path)
    assert "the file has InvoiceNo, StockCode" in str(error.value)


def test_column_map_naming_an_absent_column(con, uci_parquet):
    with pytest.raises(InputError, match=r"the column map names 'Preis', which is not in the file"):
        read_transactions(con, uci_parquet, column_map={"Preis": "unit_price"})


def test_column_map_to_an_unknown_target(con, uci_parquet):
    with pytest.raises(InputError, match=r"target 'price' is not one of"):
        read_transactions(con, uci_parquet, column_map={"UnitPrice": "price"})


def test_non_numeric_quantity(con, tmp_path):
    frame = uci_frame(UCI_ROWS).astype({"Quantity": str})
    frame.loc[[1, 2, 4, 5], "Quantity"] = ["six", "6.5", "six", "n/a"]
    with pytest.raises(InputError) as error:
        read_transactions(con, _parquet(tmp_path, frame))
    message = str(error.value)
    assert "column 'Quantity': values that are not a number" in message
    assert {"'six'", "'6.5'", "'n/a'"} == set(message.split(": ")[-1].split(", "))
    assert "\n" not in message


def test_non_numeric_price(con, tmp_path):
    frame = uci_frame(UCI_ROWS).astype({"UnitPrice": str})
    frame.loc[0, "UnitPrice"] = "£2.55"
    with pytest.raises(
        InputError, match=r"column 'UnitPrice': values that are not a number: '£2.55'"
    ):
        read_transactions(con, _parquet(tmp_path, frame))


def test_unparseable_date(con, tmp_path):
    frame = uci_frame(UCI_ROWS)
    frame.loc[3, "InvoiceDate"] = "yesterday"
    with pytest.raises(
        InputError,
        match=r"column 'InvoiceDate': values that are not a date \(read as ISO 8601; give"
        r" --date-format\): 'yesterday'",
    ):
        read_transactions(con, _parquet(tmp_path, frame))


def test_latin1_bytes_read_as_utf8(con, tmp_path):
    path = tmp_path / "latin.csv"
    uci_frame(UCI_ROWS).assign(Description="CAFÉ").to_csv(path, index=False, encoding="latin-1")
    with pytest.raises(InputError, match=r"latin\.csv: cannot read the file"):
        read_transactions(con, path)


def test_empty_file(con, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputError) as error:
        read_transactions(con, path)
    assert str(error.value) == f"{path}: the file is empty"


def test_unknown_suffix(con, tmp_path):
    path = tmp_path / "log.json"
    path.write_text("{}")
    with pytest.raises(InputError, match=r"cannot tell the format from '.json'"):
        read_transactions(con, path)


def _parquet(folder, frame: pd.DataFrame):
    path = folder / "log.parquet"
    frame.to_parquet(path, index=False)
    return path


def test_a_glob_reads_its_files_in_name_order_and_a_later_file_keeps_earlier_numbers(con, tmp_path):
    frame = uci_frame(UCI_ROWS)
    split_by_month(tmp_path, frame.iloc[:3], ".parquet")  # December 2010 only
    first = read(con, tmp_path / "export-*.parquet").sort_values("line_no")
    (tmp_path / "export-2010-12.parquet").rename(tmp_path / "export-2010-11.parquet")
    frame.iloc[3:].to_parquet(tmp_path / "export-2011-01.parquet", index=False)
    both = read(con, tmp_path / "export-*.parquet").sort_values("line_no")
    assert both["line_no"].tolist() == list(range(len(UCI_ROWS)))
    assert both["invoice_no"].tolist() == [row[0] for row in UCI_ROWS]
    assert both.head(3).astype(str).equals(first.astype(str))


def test_files_of_another_layout_in_one_folder_are_refused(con, tmp_path):
    frame = uci_frame(UCI_ROWS)
    frame.iloc[:3].to_csv(tmp_path / "a.csv", index=False)
    frame.iloc[3:].rename(columns={"UnitPrice": "Price"}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(InputError, match=r"b\.csv: its columns differ from a\.csv's: 'Price"):
        read(con, tmp_path)
    (tmp_path / "b.csv").unlink()
    frame.iloc[3:].to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(InputError, match=r"b\.parquet: a parquet file among csv files"):
        read(con, tmp_path)
    with pytest.raises(InputError, match="no csv, parquet, xlsx file in it"):
        read(con, tmp_path / "nothing-*.csv")


def test_exports_in_an_object_store_read_as_the_same_files_on_disk(con, tmp_path, object_store):
    from rfm_pipeline.core.ingest import fingerprints

    frame = uci_frame(UCI_ROWS)
    (tmp_path / "exports").mkdir()
    for name, part in {"2010-12-01.csv": frame.iloc[:3], "2010-12-02.csv": frame.iloc[3:]}.items():
        part.to_csv(tmp_path / "exports" / name, index=False)
        object_store.put_file(str(tmp_path / "exports" / name), f"/shop/exports/{name}")
    local = read(con, tmp_path / "exports").sort_values("line_no")
    for location in ("memory://shop/exports/", "memory://shop/exports/*.csv"):
        remote = read(con, location).sort_values("line_no")
        assert remote.equals(local)
    one = read(con, "memory://shop/exports/2010-12-02.csv")
    assert one["invoice_no"].tolist() == [row[0] for row in UCI_ROWS[3:]]

    seen = fingerprints("memory://shop/exports/")
    assert list(seen) == ["2010-12-01.csv", "2010-12-02.csv"]
    object_store.pipe(
        "/shop/exports/2010-12-02.csv",
        frame.iloc[3:].assign(Quantity=7).to_csv(index=False).encode(),
    )
    now = fingerprints("memory://shop/exports/")
    assert now["2010-12-02.csv"] != seen["2010-12-02.csv"]
    assert now["2010-12-01.csv"] == seen["2010-12-01.csv"]

    with pytest.raises(InputError, match=r"memory://shop/nothing/: not found"):
        read(con, "memory://shop/nothing/")
    object_store.pipe("/shop/bad/a.csv", b"InvoiceNo,Quantity\n1,2\n")
    with pytest.raises(InputError, match=r"^memory://shop/bad/a.csv: missing required column"):
        read(con, "memory://shop/bad/a.csv")
