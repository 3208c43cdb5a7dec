"""Every kind of bad input, through `rfm-pipeline run` and `rfm-pipeline predict`: either exit 2
with one line naming the file (and the column and values where there are some), or a documented
handling with the run succeeding. Never a traceback."""

from __future__ import annotations

import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.cli import main
from rfm_pipeline.core.model_files import save_model
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame
from rfm_pipeline_tests.core.test_scoring import recency_model


def write(folder, name: str, frame: pd.DataFrame | None = None, text: str | None = None, **csv):
    path = folder / name
    if text is not None:
        path.write_text(text)
    elif name.endswith(".xlsx"):
        with pd.ExcelWriter(path) as writer:
            pd.DataFrame({"note": ["the data is on the next sheet"]}).to_excel(
                writer, sheet_name="README", index=False
            )
            frame.to_excel(writer, sheet_name="data", index=False)
    else:
        frame.to_csv(path, index=False, **csv)
    return path


UCI = uci_frame(UCI_ROWS)
HEADER = ",".join(UCI.columns)

QUANTITIES = ["6", "x", "6", "-2", "1", "24", "2"]
TWICE = HEADER + ",Country\n1,2,X,1,2011-01-01 10:00:00,1.0,1,UK,UK\n"
FAILING = {
    "empty": (dict(text=""), "the file is empty"),
    "header only": (dict(text=HEADER + "\n"), "the file has a header but no rows"),
    "missing column": (
        dict(frame=UCI.drop(columns=["UnitPrice"])),
        "missing required column unit_price",
    ),
    "non-numeric quantity": (
        dict(frame=UCI.assign(Quantity=QUANTITIES)),
        "column 'Quantity': values that are not a number: 'x'",
    ),
    "non-numeric price": (
        dict(frame=UCI.assign(UnitPrice=["2.55", "3,39", "1.85", "2.55", "18", "3.75", "3.75"])),
        "column 'UnitPrice': values that are not a number: '3,39'",
    ),
    "unparseable date": (
        dict(frame=UCI.assign(InvoiceDate="someday")),
        "column 'InvoiceDate': values that are not a date (read as ISO 8601; give --date-format):"
        " 'someday'",
    ),
    "two columns with one name": (
        dict(text=TWICE),
        "several columns have the same name: 'Country'",
    ),
    "only non-positive prices": (
        dict(frame=UCI.assign(UnitPrice=0.0)),
        "no purchase line is left after cleaning",
    ),
    "only cancellations": (
        dict(frame=UCI.assign(InvoiceNo="C1", Quantity=-1)),
        "no purchase line is left after cleaning (7 lines: missing customer 1, cancellation 6)",
    ),
    "data on another sheet": (
        dict(frame=UCI),
        "(sheet 'README' of README, data; choose one with --sheet)",
    ),
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    save_model(recency_model(), UPath(tmp_path / "warehouse" / "segment_classifier.skops"))
    return tmp_path


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("case", sorted(FAILING))
def test_run_refuses_with_one_line(home, capsys, case):
    options, message = FAILING[case]
    name = "log.xlsx" if case == "data on another sheet" else "log.csv"
    path = write(home, name, **options)
    assert main(run_args(home, path)) == 2
    line = one_line(capsys)
    assert line.startswith(f"error: {path}") and message in line, line


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "header only",
        "missing column",
        "non-numeric quantity",
        "non-numeric price",
        "unparseable date",
        "two columns with one name",
    ],
)
def test_predict_refuses_with_one_line(home, capsys, case):
    options, message = FAILING[case]
    path = write(home, "new.csv", **options)
    args = [
        "predict",
        "--transactions",
        str(path),
        "--out",
        str(home / "out.csv"),
        "--warehouse",
        str(home / "warehouse"),
    ]
    assert main(args) == 2
    assert message in one_line(capsys)
    assert not (home / "out.csv").exists()


def run_args(home, path, *extra: str) -> list[str]:
    """`rfm-pipeline run` on `path` into the test's own warehouse."""
    return ["run", "--input", str(path), "--warehouse", str(home / "warehouse"), *extra]


def predict(home, path, *extra: str) -> pd.DataFrame:
    out = home / "out.csv"
    args = [
        "predict",
        "--transactions",
        str(path),
        "--out",
        str(out),
        "--warehouse",
        str(home / "warehouse"),
        *extra,
    ]
    assert main(args) == 0
    return pd.read_csv(out, dtype={"customer_id": str})


def test_predict_reports_customers_it_cannot_score(home):
    path = write(home, "new.csv", UCI.assign(InvoiceNo="C1", Quantity=-1))
    scored = predict(home, path)
    assert scored["reason"].eq("only cancellations").all()


def test_predict_reads_the_sheet_it_is_told(home):
    scored = predict(home, write(home, "new.xlsx", UCI), "--sheet", "data")
    assert scored["customer_id"].tolist() == ["12583", "17850"]


def test_a_wrong_delimiter_is_detected(home, capsys):
    path = write(home, "log.csv", UCI, sep=";")
    assert (
        main(
            [
                "run",
                "--input",
                str(path),
                "--warehouse",
                str(home / "warehouse"),
                "--select",
                "raw_transactions,clean_transactions",
            ]
        )
        == 0
    )
    assert "materialised clean_transactions       4 rows" in capsys.readouterr().out


def test_mixed_customer_ids_are_normalised_and_blank_ones_dropped(home):
    ids = ["17850", "17850.0", "C17850", "17850", "12583", "12583.0", ""]
    scored = predict(home, write(home, "new.csv", UCI.assign(CustomerID=ids)))
    assert sorted(scored["customer_id"]) == ["12583", "17850", "C17850"]


def test_extreme_quantities_are_kept_as_numbers(home):
    scored = predict(home, write(home, "new.csv", UCI.assign(Quantity=10**12)))
    assert scored["monetary"].max() > 10**12


def test_dates_after_the_as_of_date_are_not_counted(home):
    scored = predict(home, write(home, "new.csv", UCI), "--as-of", "2010-12-02")
    by_id = scored.set_index("customer_id")
    assert by_id.loc["17850", "frequency"] == 2  # the two invoices of 2010-12-01 only
    assert by_id.loc["12583", "reason"] == "no transactions before the as-of date"


@pytest.mark.parametrize(
    ("written", "read_as", "message"),
    [("latin-1", "utf-8", "byte sequence mismatch"), ("utf-8", "latin-1", "not latin-1 encoded")],
)
@pytest.mark.parametrize("command", ["run", "predict"])
def test_a_wrong_encoding_is_one_line(home, capsys, written, read_as, message, command):
    path = home / "log.csv"
    UCI.assign(Description="CAFÉ €").to_csv(path, index=False, encoding=written, errors="replace")
    if command == "run":
        args = ["run", "--input", str(path)]
    else:
        args = ["predict", "--transactions", str(path), "--out", str(home / "out.csv")]
    code = main([*args, "--encoding", read_as, "--warehouse", str(home / "warehouse")])
    assert code == 2
    line = one_line(capsys)
    assert line.startswith(f"error: {path}: cannot read the file") and message in line, line


HANDLED = {
    "another delimiter": dict(frame=UCI, sep=";"),
    "mixed customer ids": dict(
        frame=UCI.assign(CustomerID=["17850", "17850.0", "C17850", "17850", "12583", "12583.0", ""])
    ),
    "extreme quantities": dict(frame=UCI.assign(Quantity=10**12)),
    "a single customer": dict(frame=UCI.assign(CustomerID=17850.0)),
}


HANDLED_RFM = {
    # as the plain log: 12583 24 clocks at 3.75 (its postage is no product); 17850 two
    # invoices, two of its six hearts cancelled: 4 x 2.55 + 6 x 3.39 + 6 x 1.85
    "another delimiter": {"12583": (0, 1, 90.0), "17850": (1, 2, 41.64)},
    # "17850.0" is 17850 and "12583.0" 12583; "C17850" is a customer of its own (an id, not a
    # cancellation: invoice numbers say that); the blank id is a line without a customer
    "mixed customer ids": {
        "12583": (0, 1, 90.0),
        "17850": (1, 1, 4 * 2.55 + 6 * 3.39),
        "C17850": (1, 1, 6 * 1.85),
    },
    # every quantity 10^12: the cancellation is no longer negative, so nothing is cancelled
    # from the hearts (the C line is dropped as a cancellation all the same)
    "extreme quantities": {"12583": (0, 1, 3.75e12), "17850": (1, 2, (2.55 + 3.39 + 1.85) * 1e12)},
    # every line 17850's: four invoices, the last (2 clocks on 2010-12-03) one day later
    "a single customer": {"17850": (0, 4, 4 * 2.55 + 6 * 3.39 + 6 * 1.85 + 90.0 + 7.5)},
}
"""Case -> each customer's (recency, frequency, monetary) as of the day after the last line."""


def rfm_of(frame: pd.DataFrame) -> dict[str, tuple]:
    return {
        row.customer_id: (row.recency, row.frequency, round(row.monetary, 2))
        for row in frame.itertuples()
    }


def expected_rfm(case: str) -> dict[str, tuple]:
    return {c: (r, f, round(m, 2)) for c, (r, f, m) in HANDLED_RFM[case].items()}


@pytest.mark.parametrize("case", sorted(HANDLED))
def test_run_handles(home, capsys, case):
    path = write(home, "log.csv", **HANDLED[case])
    args = run_args(home, path)
    # up to the segments: test_any_shop.py runs shops this small through every asset
    assert main([*args, "--select", "+customer_segments"]) == 0
    assert capsys.readouterr().err == ""
    segments = pd.read_parquet(home / "warehouse" / "customer_segments.parquet")
    assert rfm_of(segments) == expected_rfm(case)
    # a handful of customers is too few to segment: one group, named
    assert segments["segment_id"].nunique() == 1 and segments["segment_name"].notna().all()
    if case == "a single customer":
        assert segments["segment_name"].tolist() == ["All customers"]


@pytest.mark.parametrize("case", sorted(HANDLED))
def test_predict_handles(home, case):
    scored = predict(home, write(home, "new.csv", **HANDLED[case]))
    assert rfm_of(scored) == expected_rfm(case)
    # the saved model (recency_model) puts a customer who bought within a month in Active
    assert scored["segment_name"].eq("Active").all() and scored["reason"].isna().all()


def test_run_counts_only_lines_before_the_as_of_date(home):
    path = write(home, "log.csv", UCI)
    args = run_args(
        home,
        path,
        "--as-of",
        "2010-12-02",
        "--select",
        "raw_transactions,clean_transactions,rfm_table",
    )
    assert main(args) == 0
    table = pd.read_parquet(home / "warehouse" / "rfm_table.parquet")
    assert table["customer_id"].tolist() == ["17850"]  # 12583 bought on 2010-12-02 only


def test_predict_with_only_zero_prices_gives_every_customer_a_reason(home):
    scored = predict(home, write(home, "new.csv", UCI.assign(UnitPrice=0.0)))
    assert scored["customer_id"].tolist() == ["12583", "17850"]
    assert scored["reason"].str.startswith("no valid purchase lines").all()


@pytest.mark.parametrize("command", ["run", "predict"])
def test_a_map_naming_an_absent_column_is_one_line(home, capsys, command):
    path = write(home, "log.csv", UCI)
    if command == "run":
        args = ["run", "--input", str(path)]
    else:
        args = ["predict", "--transactions", str(path), "--out", str(home / "out.csv")]
    code = main([*args, "--map", "Cost=unit_price", "--warehouse", str(home / "warehouse")])
    assert code == 2
    assert "the column map names 'Cost', which is not in the file" in one_line(capsys)
