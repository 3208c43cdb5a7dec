"""Any shop, any sensible file: shops of every size, the date layouts shops write, blank and odd
values, through `rfm-pipeline run` and `rfm-pipeline predict`."""

from __future__ import annotations

import datetime as dt
import re

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from rfm_pipeline.cli import main
from rfm_pipeline.settings import BUNDLED_INPUT
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame
from rfm_pipeline_tests.test_bad_input import home, one_line, predict, run_args, write  # noqa: F401

CHEAP = [
    "raw_transactions",
    "clean_transactions",
    "rfm_table",
    "rfm_scores",
    "rfm_features",
    "pca_segmentation",
    "pca_sweep",
    "umap_segmentation",
    "umap_sweep",
    "tsne_segmentation",
    "tsne_sweep",
    "value_backtest",
    "customer_value",
    "segment_registry",
    "customer_segments",
    "segment_profiles",
]
"""The segmentation path: enough to show a shop of that size is segmented."""

WHOLE_GRAPH = {1, 3}
"""Sizes run through every asset, the report included. Larger shops through every asset: the
60-customer three-column log below, the 150-customer graph of the Dagster wiring's tests
(defs/conftest.py), the twentieth of the bundled customers of the weekly tests."""


@pytest.fixture(scope="module")
def bundled() -> pd.DataFrame:
    return pd.read_parquet(BUNDLED_INPUT)


def metadata(asset: str) -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.parametrize("customers", [1, 2, 3, 5, 10])
def test_a_shop_of_the_first_n_customers_is_segmented(home, bundled, customers):  # noqa: F811
    first = bundled["CustomerID"].dropna().drop_duplicates().head(customers)
    path = write(home, "shop.csv", bundled[bundled["CustomerID"].isin(first)])
    warehouse = home / "warehouse"
    args = ["run", "--input", str(path), "--warehouse", str(warehouse)]
    if customers not in WHOLE_GRAPH:
        args += ["--select", ",".join(CHEAP)]
    assert main(args) == 0
    segmented = pd.read_parquet(warehouse / "customer_segments.parquet")
    clean = pd.read_parquet(warehouse / "clean_transactions.parquet")
    assert sorted(segmented["customer_id"]) == sorted(clean["customer_id"].unique())
    assert segmented["segment_name"].notna().all() and segmented["strategy"].notna().all()
    shown = metadata("customer_segments")
    if shown["algorithm"] == "single":
        assert shown["note"] == f"one segment: {len(segmented):,} customers"
    if customers in WHOLE_GRAPH:
        report = (warehouse / "segment_report.html").read_text()
        assert report.count("<tr") >= len(pd.read_parquet(warehouse / "segment_profiles.parquet"))


def three_column_log(customers: int = 60) -> pd.DataFrame:
    """A subscription or CRM export: customer, date as compact text (`20220314`) and amount,
    nothing else; a year and a half of purchases, ids that begin like a cancellation."""
    rng = np.random.default_rng(11)
    start, rows = dt.date(2022, 1, 1), []
    for customer in range(customers):
        first = int(rng.integers(0, 450))  # some buy from the start, some join later
        days = np.sort(rng.integers(first, 546, size=int(rng.integers(1, 16))))
        scale = (20.0, 80.0, 300.0)[customer % 3]
        rows += [
            (
                f"C{customer:03d}",
                (start + dt.timedelta(days=int(day))).strftime("%Y%m%d"),
                f"{rng.gamma(2.0, scale):.2f}",
            )
            for day in days
        ]
    return pd.DataFrame(rows, columns=["customer_id", "invoice_date", "amount"])


THREE_COLUMN_ASSETS = (
    "eda_report",
    "product_categories",
    "customer_interests",
    "interest_classifier",
    "segment_export",
)


@pytest.fixture(scope="module")
def three_columns(tmp_path_factory) -> dict:
    """The three-column log run once through every asset: exit code, log, warehouse, and the
    metadata of `THREE_COLUMN_ASSETS`. An earlier input's hour plot waits in the warehouse."""
    folder = tmp_path_factory.mktemp("three_columns")
    log = three_column_log()
    path = write(folder, "log.csv", log)
    warehouse = folder / "warehouse"
    stale = warehouse / "plots" / "eda_orders_by_hour.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier input's plot")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(folder / "dagster_home"))
        patch.setenv("RFM_PIPELINE_WAREHOUSE", str(warehouse))
        code = main(["run", "--input", str(path), "--warehouse", str(warehouse), "--cutoffs", "1"])
        shown = {asset: metadata(asset) for asset in THREE_COLUMN_ASSETS} if code == 0 else {}
    return {"code": code, "log": log, "warehouse": warehouse, "metadata": shown}


def test_a_log_of_customer_date_and_amount_runs_to_the_end(three_columns):
    assert three_columns["code"] == 0
    customers = sorted(three_columns["log"]["customer_id"].unique())
    warehouse = three_columns["warehouse"]
    for exported in (
        pd.read_csv(warehouse / "segment_export.csv", dtype={"customer_id": str}),
        pd.read_parquet(warehouse / "segment_export.parquet"),
    ):
        assert exported["customer_id"].tolist() == customers  # one row each
        assert exported["segment_name"].notna().all()
        assert exported["interest_group"].isna().all()
    assert three_columns["metadata"]["segment_export"]["with_interest_group"] == 0
    segmented = pd.read_parquet(warehouse / "customer_segments.parquet")
    assert sorted(segmented["customer_id"]) == customers
    report = (warehouse / "segment_report.html").read_text()
    assert f"segments of {len(customers)} customers" in report
    assert "cannot answer: no country column in the input" in report
    text = re.sub(r"<[^>]+>", " ", report)  # what a reader sees, images left out
    assert not re.search(r"\bnan\b", text)  # no figure the shop cannot have


def test_a_log_of_customer_date_and_amount_answers_what_its_columns_allow(three_columns):
    assert three_columns["code"] == 0
    log = three_columns["log"]
    answers = pd.read_parquet(three_columns["warehouse"] / "eda_report.parquet")
    answer = answers.set_index("question")["answer"]
    assert answer["How big is the log?"] == f"{len(log):,} lines x 3 columns"
    days = pd.to_datetime(log["invoice_date"], format="%Y%m%d")
    assert answer["What period?"] == f"{days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}"
    assert answer["How many customers?"] == f"{log['customer_id'].nunique()} distinct customer ids"
    assert answer["How many values are missing?"] == "0 (none)"
    mean = log["amount"].astype(float).mean()
    assert answer["Mean line value (total_price)?"] == f"{mean:,.2f}"
    cannot = {
        "How many countries?": "no country column in the input",
        "Top three countries by revenue": "no country column in the input",
        "What share of orders are cancellations?": "no invoice numbers in the input",
        "Which product is sold most often?": "no stock codes in the input",
        "When are most orders placed?": "the dates have no time of day",
    }
    for question, why in cannot.items():
        assert answer[question] == f"cannot answer: {why}"
    assert three_columns["metadata"]["eda_report"]["not_answered"] == (
        "- countries: no country column in the input\n"
        "- products: no stock codes in the input\n"
        "- cancellations: no invoice numbers in the input\n"
        "- hours: the dates have no time of day"
    )
    plots = three_columns["warehouse"] / "plots"
    assert (plots / "eda_revenue_by_month.png").stat().st_size > 5_000
    assert not (plots / "eda_orders_by_hour.png").exists()  # the earlier input's is gone
    assert not (plots / "eda_revenue_by_country.png").exists()


def test_a_log_of_customer_date_and_amount_skips_categories_and_interests(three_columns):
    assert three_columns["code"] == 0
    shown = three_columns["metadata"]
    assert shown["product_categories"]["skipped"] == "skipped: input has no product descriptions"
    assert shown["customer_interests"]["skipped"] == "skipped: no product categories"
    assert shown["interest_classifier"]["skipped"] == "skipped: no product categories"
    for asset in ("product_categories", "customer_interests"):
        assert pd.read_parquet(three_columns["warehouse"] / f"{asset}.parquet").empty


# Two customers; the lines' dates in each layout, and the dates they stand for.
DATES = [
    dt.datetime(2010, 12, 1, 8, 26),
    dt.datetime(2010, 12, 15, 9, 5, 30),
    dt.datetime(2011, 1, 3, 17, 0),
    dt.datetime(2011, 1, 20, 10, 0),
]
LAYOUTS = {
    "compact": ("%Y%m%d", "%Y%m%d", "%Y%m%d"),
    "year first with slashes": ("%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "ISO 8601"),
    "year first with slashes, no time": ("%Y/%m/%d", "%Y/%m/%d", "ISO 8601"),
    "day first with slashes": ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M (day first"),
    "day first with dashes and seconds": (
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M:%S (day first",
    ),
    "day first with dots, no time": ("%d.%m.%Y", "%d.%m.%Y", "%d.%m.%Y (day first"),
    "month first": ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M (month first"),
}
"""Case -> (how the file writes the dates, the layout that reads them, what metadata says)."""


def dated(texts: list) -> pd.DataFrame:
    frame = uci_frame(UCI_ROWS[:4]).assign(InvoiceNo=["1", "2", "3", "4"], Quantity=1)
    return frame.assign(InvoiceDate=texts, CustomerID=[1.0, 1.0, 2.0, 2.0])


def expected(layout: str) -> list[pd.Timestamp]:
    """The dates as a layout keeps them (to the minute, second or day it writes)."""
    return [pd.Timestamp(dt.datetime.strptime(d.strftime(layout), layout)) for d in DATES]


@pytest.mark.parametrize("case", sorted(LAYOUTS))
def test_run_and_predict_read_the_dates_shops_write(home, case):  # noqa: F811
    written, layout, said = LAYOUTS[case]
    path = write(home, "log.csv", dated([d.strftime(written) for d in DATES]))
    args = run_args(home, path, "--select", "raw_transactions")
    assert main(args) == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert raw["invoice_date"].tolist() == expected(layout)
    assert metadata("raw_transactions")["date_layout"].startswith(said)
    scored = predict(home, path, "--as-of", "2011-02-01").set_index("customer_id")
    last = {"1": expected(layout)[1], "2": expected(layout)[3]}
    for customer, day in last.items():
        assert scored.loc[customer, "recency"] == (pd.Timestamp("2011-02-01") - day).days


def test_compact_dates_as_an_integer_column(home):  # noqa: F811
    path = home / "log.parquet"
    dated([int(d.strftime("%Y%m%d")) for d in DATES]).to_parquet(path)
    args = run_args(home, path, "--select", "raw_transactions")
    assert main(args) == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert raw["invoice_date"].tolist() == expected("%Y%m%d")
    assert metadata("raw_transactions")["date_layout"] == "%Y%m%d"


def test_excel_date_cells(home):  # noqa: F811
    path = home / "log.xlsx"
    dated(DATES).to_excel(path, index=False)
    assert predict(home, path, "--as-of", "2011-02-01")["recency"].tolist() == [47, 11]
    args = run_args(home, path, "--select", "raw_transactions")
    assert main(args) == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert raw["invoice_date"].tolist() == [pd.Timestamp(d) for d in DATES]


def test_dates_that_read_both_ways_are_month_first_and_say_so(home):  # noqa: F811
    path = write(home, "log.csv", dated(["01/02/2011", "03/04/2011", "05/06/2011", "07/08/2011"]))
    args = run_args(home, path, "--select", "raw_transactions")
    assert main(args) == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert raw["invoice_date"].iloc[0] == pd.Timestamp("2011-01-02")
    assert metadata("raw_transactions")["date_layout"] == (
        "%m/%d/%Y (no day above 12 anywhere: month first assumed)"
    )


@pytest.mark.parametrize("command", ["run", "predict"])
def test_date_format_reads_any_other_layout(home, capsys, command):  # noqa: F811
    path = write(home, "log.csv", dated([d.strftime("%d %b %Y, %H.%M") for d in DATES]))
    if command == "predict":
        scored = predict(home, path, "--as-of", "2011-02-01", "--date-format", "%d %b %Y, %H.%M")
        assert scored["recency"].tolist() == [47, 11]
        return
    args = run_args(home, path, "--select", "raw_transactions")
    assert main(args) == 2
    assert one_line(capsys).startswith(
        f"error: {path}: column 'InvoiceDate': values that are not a date (read as ISO 8601;"
        " give --date-format): '01 Dec 2010, 08.26'"
    )
    assert main([*args, "--date-format", "%d %b %Y, %H.%M"]) == 0
    raw = pd.read_parquet(home / "warehouse" / "raw_transactions.parquet")
    assert raw["invoice_date"].tolist() == expected("%d %b %Y, %H.%M")
    assert metadata("raw_transactions")["date_layout"] == "%d %b %Y, %H.%M (configured)"


UCI = uci_frame(UCI_ROWS)
BLANKS = {  # the first line of customer 17850 made unusable; the funnel step that drops it
    "blank date": ("InvoiceDate", None, "drop missing or unusable value"),
    "blank quantity": ("Quantity", None, "drop missing or unusable value"),
    "zero quantity": ("Quantity", 0, "drop missing or unusable value"),
    "blank price": ("UnitPrice", None, "drop missing or unusable value"),
    "price nan": ("UnitPrice", "nan", "drop missing or unusable value"),
    "price inf": ("UnitPrice", "inf", "drop missing or unusable value"),
    "blank customer": ("CustomerID", None, "drop missing customer"),
}


def blank(case: str) -> pd.DataFrame:
    column, value, _ = BLANKS[case]
    frame = UCI.astype({column: object})
    frame.loc[0, column] = value
    return frame


@pytest.mark.parametrize("case", sorted(BLANKS))
def test_a_blank_or_odd_value_drops_its_line_and_the_funnel_counts_it(home, case):  # noqa: F811
    path = write(home, "log.csv", blank(case))
    args = run_args(home, path, "--select", "raw_transactions,clean_transactions")
    assert main(args) == 0
    funnel = {
        r.data["step"]: r.data["rows_removed"]
        for r in metadata("clean_transactions")["funnel"].records
    }
    step = BLANKS[case][2]
    assert funnel[step] == 1 + (step == "drop missing customer")  # the log has one already
    clean = pd.read_parquet(home / "warehouse" / "clean_transactions.parquet")
    assert clean.sort_values("line_no")["stock_code"].tolist() == ["71053", "22633", "22728"]
    scored = predict(home, path, "--as-of", "2011-01-01").set_index("customer_id")
    assert scored.loc["17850", "segment_id"] in (0, 1)  # its other lines still count
    assert scored.loc["17850", "monetary"] == pytest.approx(6 * 3.39 + 6 * 1.85)


def test_a_quantity_of_infinity_is_refused_with_one_line(home, capsys):  # noqa: F811
    path = write(home, "log.csv", UCI.astype({"Quantity": object}).assign(Quantity="inf"))
    assert main(run_args(home, path)) == 2
    assert one_line(capsys) == (
        f"error: {path}: column 'Quantity': values that are not a number: 'inf'"
    )


def test_an_excel_file_with_repeated_headers_is_refused(home, capsys):  # noqa: F811
    path = home / "log.xlsx"
    UCI.assign(Extra="UK").rename(columns={"Extra": "Country"}).to_excel(path, index=False)
    assert main(run_args(home, path)) == 2
    assert one_line(capsys) == (f"error: {path}: several columns have the same name: 'Country'")


def test_a_log_from_years_ago_runs_as_of_a_day_in_its_first_year(home):  # noqa: F811
    path = write(home, "log.csv", UCI.assign(InvoiceDate=["1997-01-01 10:00"] * 7))
    args = run_args(
        home,
        path,
        "--as-of",
        "1997-03-01",
        "--select",
        "raw_transactions,clean_transactions,rfm_table",
    )
    assert main(args) == 0
    table = pd.read_parquet(home / "warehouse" / "rfm_table" / "1997-02-24.parquet")
    assert table["recency"].tolist() == [58, 58]


def test_a_log_without_stock_codes_is_segmented(home):  # noqa: F811
    path = write(home, "log.csv", UCI.drop(columns=["StockCode"]))
    args = run_args(home, path, "--select", "raw_transactions,clean_transactions,rfm_table")
    assert main(args) == 0
    table = pd.read_parquet(home / "warehouse" / "rfm_table.parquet")
    assert sorted(table["customer_id"]) == ["12583", "17850"]
    assert predict(home, path, "--as-of", "2011-01-01")["segment_id"].notna().all()
