"""Cleaning plus RFM at 1, 10, 50 and 200 times the bundled data, beside a bare DuckDB query.

`scale_up` writes the bundled log N times into one Parquet file, streaming one copy at a time
(copy i gets its own customer ids and invoice numbers; dates and products are kept). For each
size, in separate processes: ours (`raw_transactions`, `clean_transactions`, `rfm_table`, each
written to Parquet by the engine) and the reference, a bare DuckDB group-by computing recency,
frequency and monetary straight from the same file. Each reports wall time and peak memory.
Run: `python -m benchmarks scale [--sizes 1,10,50,200] [--repeats N]`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.cleaning import peak_memory_mib
from rfm_pipeline.settings import BUNDLED_INPUT

MEMORY_LIMIT = "4GB"


def scale_up(copies: int, out: Path) -> int:
    """Write the bundled data `copies` times into `out`; returns the rows written."""
    base = pq.read_table(BUNDLED_INPUT)
    invoice = base["InvoiceNo"]
    cancelled = pc.starts_with(invoice, "C")
    number = pc.if_else(cancelled, pc.utf8_slice_codeunits(invoice, 1), invoice)
    rows = 0
    with pq.ParquetWriter(out, base.schema) as writer:
        for copy in range(copies):
            tag = pa.scalar(f"{copy}-")
            renumbered = pc.binary_join_element_wise(
                pc.if_else(cancelled, "C", ""), tag, number, ""
            )
            customers = pc.add(base["CustomerID"], pa.scalar(float(copy * 100_000)))
            table = base.set_column(0, "InvoiceNo", renumbered).set_column(
                6, "CustomerID", customers
            )
            writer.write_table(table, row_group_size=1_000_000)
            rows += table.num_rows
    return rows


def scaled_logs(sizes: tuple[int, ...]) -> Iterator[tuple[int, Path, Path, int]]:
    """For each size, a scratch folder with the bundled log scaled up in it: (size, folder,
    source file, lines). The folder's files are removed once the caller moves on."""
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent) as scratch:
        for size in sizes:
            folder = Path(scratch) / f"x{size}"
            folder.mkdir()
            source = folder / "source.parquet"
            yield size, folder, source, scale_up(size, source)
            for leftover in folder.rglob("*"):
                if leftover.is_file():
                    leftover.unlink()


def ours(source: Path, folder: Path) -> dict:
    from upath import UPath

    from rfm_pipeline.core import cleaning, rfm
    from rfm_pipeline.core.engine import connect
    from rfm_pipeline.core.ingest import read_transactions
    from rfm_pipeline.core.storage import write_table

    con = connect(memory_limit=MEMORY_LIMIT, temp_directory=str(folder / "spill"))
    started = time.perf_counter()
    write_table(read_transactions(con, source), UPath(folder / "raw.parquet"))
    ingested = time.perf_counter()
    result = cleaning.clean_transactions(con.read_parquet(folder / "raw.parquet"))
    write_table(result.table, UPath(folder / "clean.parquet"))
    cleaned = time.perf_counter()
    clean = con.read_parquet(folder / "clean.parquet")
    table = rfm.rfm_table(clean, rfm.default_as_of(clean))
    write_table(table, UPath(folder / "rfm.parquet"))
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "ingest_seconds": ingested - started,
        "clean_seconds": cleaned - ingested,
        "rfm_seconds": done - cleaned,
        "customers": int(clean.customer_id.nunique().execute()),
        "peak_mib": peak_memory_mib(),
    }


def reference(source: Path, folder: Path) -> dict:
    import duckdb

    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
    started = time.perf_counter()
    con.execute(
        f"""
        COPY (
          WITH lines AS (
            SELECT CAST(CAST(CustomerID AS BIGINT) AS VARCHAR) AS customer_id, InvoiceNo,
                   CAST(InvoiceDate AS TIMESTAMP) AS invoice_date, Quantity * UnitPrice AS amount
            FROM read_parquet('{source}') WHERE CustomerID IS NOT NULL
          )
          SELECT customer_id,
                 date_diff('day', max(invoice_date), (SELECT max(invoice_date) FROM lines)) + 1
                   AS recency,
                 count(DISTINCT InvoiceNo) AS frequency, sum(amount) AS monetary
          FROM lines GROUP BY customer_id
        ) TO '{folder / "bare_rfm.parquet"}' (FORMAT parquet)
        """
    )
    return {"seconds": time.perf_counter() - started, "peak_mib": peak_memory_mib()}


def measure(side: str, source: Path, folder: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.scale", side, str(source), str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(repeats: int = 3, reference_repeats: int = 3, sizes: tuple[int, ...] = (1, 10, 50, 200)):
    rows = []
    for size, folder, source, lines in scaled_logs(sizes):
        runs: dict[str, list[dict]] = {"ours": [], "reference": []}
        for i in range(max(repeats, reference_repeats)):
            if i < reference_repeats:
                runs["reference"].append(measure("reference", source, folder))
            if i < repeats:
                runs["ours"].append(measure("ours", source, folder))
        ours_s = statistics.median(r["seconds"] for r in runs["ours"])
        ref_s = statistics.median(r["seconds"] for r in runs["reference"])
        rfm_s = statistics.median(r["rfm_seconds"] for r in runs["ours"])

        rows.append(
            {
                "size": size,
                "lines": lines,
                "customers": runs["ours"][0]["customers"],
                "ours_seconds": round(ours_s, 2),
                "ours_ingest_seconds": _median(runs["ours"], "ingest_seconds"),
                "ours_clean_seconds": _median(runs["ours"], "clean_seconds"),
                "ours_rfm_seconds": round(rfm_s, 2),
                "bare_rfm_seconds": round(ref_s, 2),
                "rfm_ratio": round(rfm_s / ref_s, 2),
                "whole_ratio": round(ours_s / ref_s, 2),
                "ours_peak_mib": round(max(r["peak_mib"] for r in runs["ours"])),
                "bare_peak_mib": round(max(r["peak_mib"] for r in runs["reference"])),
                "runs": {k: len(v) for k, v in runs.items()},
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return {
        "benchmark": "cleaning plus RFM by size, beside a bare DuckDB RFM query",
        "memory_limit": MEMORY_LIMIT,
        "targets": {"peak_mib_at_x200_at_most": 6 * 1024, "rfm_ratio_at_most": 2},
        "sizes": rows,
    }


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 2)


if __name__ == "__main__":
    side, source, folder = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    print(json.dumps(ours(source, folder) if side == "ours" else reference(source, folder)))
