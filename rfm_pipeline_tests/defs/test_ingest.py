"""raw_transactions: the log in the canonical schema, with what it holds in its metadata."""

import json

import dagster as dg
import pandas as pd

from rfm_pipeline.defs.ingest import IngestConfig, raw_transactions
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame
from rfm_pipeline_tests.defs.conftest import ingest_config, resources


def test_raw_transactions_reads_the_log_and_describes_it(tmp_path, uci_parquet):
    result = dg.materialize(
        [raw_transactions], resources=resources(tmp_path), run_config=ingest_config(uci_parquet)
    )
    meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
    assert meta["dagster/row_count"].value == 7
    assert meta["customers"].value == 2
    assert meta["first_invoice_date"].value == "2010-12-01 08:26:00"
    assert meta["date_layout"].value == "ISO 8601"
    assert (tmp_path / "raw_transactions.parquet").exists()


def test_the_config_gives_every_reading_option_in_one_place():
    config = IngestConfig(path="log.xlsx", sheet="2", date_format="%d/%m/%Y", encoding="latin-1")
    assert config.reading() == {
        "fmt": None,
        "encoding": "latin-1",
        "delimiter": None,
        "column_map": {},
        "date_format": "%d/%m/%Y",
        "sheet": 2,
        "table": None,
        "line_order": [],
    }
    table = IngestConfig(
        path="postgresql://shop@db/sales",
        table="sales.lines",
        line_order=["InvoiceDate", "InvoiceNo"],
    )
    assert table.reading()["table"] == "sales.lines"
    assert table.reading()["line_order"] == ["InvoiceDate", "InvoiceNo"]


def test_the_graphs_log_is_the_shops_every_line(graph):
    raw = graph.table("raw_transactions", week=None)
    assert graph.metadata("raw_transactions")["dagster/row_count"] == len(raw)
    assert raw["line_no"].tolist() == list(range(len(raw)))


def test_a_run_reads_only_the_files_added_since_and_appends_them(tmp_path, monkeypatch):
    from rfm_pipeline.core import ingest
    from rfm_pipeline.core.engine import connect

    exports, warehouse = tmp_path / "exports", tmp_path / "warehouse"
    exports.mkdir()
    frame = uci_frame(UCI_ROWS)
    days = {"2010-12-01.csv": frame.iloc[:3], "2010-12-02.csv": frame.iloc[3:5]}
    for name, part in days.items():
        part.to_csv(exports / name, index=False)
    opened = []  # the files the engine is given to read
    reader = ingest.read_many

    def spy(con, files, *args, **kwargs):
        opened.extend(file.name for file in files)
        return reader(con, files, *args, **kwargs)

    monkeypatch.setattr(ingest, "read_many", spy)

    def run() -> tuple[dict, pd.DataFrame]:
        opened.clear()
        result = dg.materialize(
            [raw_transactions], resources=resources(warehouse), run_config=ingest_config(exports)
        )
        meta = result.asset_materializations_for_node("raw_transactions")[0].metadata
        stored = pd.read_parquet(warehouse / "raw_transactions.parquet").sort_values("line_no")
        return {k: v.value for k, v in meta.items()}, stored.reset_index(drop=True)

    def full_read() -> pd.DataFrame:
        with monkeypatch.context() as undo:
            undo.setattr(ingest, "read_many", reader)
            table = ingest.read_transactions(connect(threads=1), exports).execute()
        return table.sort_values("line_no").reset_index(drop=True)

    meta, stored = run()
    assert meta["read"] == "full: no earlier read to add to"
    assert meta["files_read"] == "2010-12-01.csv, 2010-12-02.csv"
    assert opened == list(days)
    manifest = json.loads((warehouse / "raw_transactions.manifest.json").read_text())
    assert list(manifest["files"]) == list(days) and manifest["lines"] == 5

    frame.iloc[5:].to_csv(exports / "2010-12-03.csv", index=False)
    meta, stored = run()
    assert meta["read"] == "appended 1 new file(s) to the 2 read before"
    assert meta["files_read"] == "2010-12-03.csv"
    assert opened == ["2010-12-03.csv"]
    assert stored["line_no"].tolist() == list(range(len(UCI_ROWS)))
    pd.testing.assert_frame_equal(stored, full_read(), check_dtype=False)
    assert meta["dagster/row_count"] == len(UCI_ROWS)

    meta, again = run()
    assert meta["read"] == "unchanged: the 3 files read before"
    assert opened == [] and again.equals(stored)

    rewritten = frame.iloc[3:5].assign(Quantity=[-3, 2])  # same name, same size
    rewritten.to_csv(exports / "2010-12-02.csv", index=False)
    meta, stored = run()
    assert meta["read"] == "full: 2010-12-02.csv changed"
    assert stored["quantity"].tolist()[3:5] == [-3, 2]
    pd.testing.assert_frame_equal(stored, full_read(), check_dtype=False)

    frame.iloc[:1].to_csv(exports / "2010-11-30.csv", index=False)
    meta, _ = run()
    assert meta["read"] == "full: 2010-11-30.csv sorts before files already read"
    (exports / "2010-11-30.csv").unlink()
    meta, _ = run()
    assert meta["read"] == "full: 2010-11-30.csv removed"
