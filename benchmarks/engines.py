"""Ingest + clean + RFM on each engine, at 10 and 50 times the bundled data, in one run.

For each size the scaled log (`scale.scale_up`) goes through the three transaction-level
assets as the pipeline runs them: each stage reads the stored Parquet of the one before on
the engine and writes its own from the engine. DuckDB reads the file in process; Spark
(local[2]) reads it with its own reader and writes folders of parts; PostgreSQL reads the log
from a table of the database (loaded beforehand, as a shop keeping its log there would have
it; the load is reported apart) and takes each stored table back with COPY. Every engine's
RFM table is checked against DuckDB's. Peak memory is sampled every 0.2 s over the process,
its children (Spark's JVM) and the PostgreSQL server process serving it.
Run: `python -m benchmarks engines [--sizes 10,50]`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.scale import scaled_logs

DATABASE = os.environ.get("RFM_PIPELINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ENGINES = ("duckdb", "spark", "postgres")


def rss_mib(pids: set[int]) -> float:
    """The resident memory of the processes, in MiB (0 for those gone)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        total += next(
            (int(line.split()[1]) for line in text.splitlines() if line.startswith("VmRSS")), 0
        )  # none for a zombie
    return total / 1024


def descendants(pid: int) -> set[int]:
    found, todo = {pid}, [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                children = {int(c) for c in task.read_text().split()}
            except OSError:  # a thread that has just ended
                continue
            todo += children - found
            found |= children
    return found


class PeakMemory:
    """Samples the memory of this process tree (and extra pids) until stopped."""

    def __init__(self, extra: set[int] = frozenset()) -> None:
        self.extra, self.peak, self._stop = set(extra), 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mib(descendants(os.getpid()) | self.extra))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak)


def stage(backend: str, source: str, folder: Path) -> dict:
    """One engine's ingest, clean and RFM, each stored and read back as the assets do."""
    from upath import UPath

    from rfm_pipeline.core import cleaning, engine, rfm
    from rfm_pipeline.core.ingest import read_transactions
    from rfm_pipeline.core.storage import write_table

    started = time.perf_counter()
    con = engine.shared_connection(
        backend, memory_limit="4GB", database=DATABASE, temp_directory=str(folder / "spill")
    )
    server = set()
    if backend == "postgres":
        server = {int(con.raw_sql("SELECT pg_backend_pid()").fetchone()[0])}
    memory = PeakMemory(server)
    connected = time.perf_counter()
    reading = {"table": "bench_transactions"} if backend == "postgres" else {}
    write_table(read_transactions(con, source, **reading), UPath(folder / "raw.parquet"))
    ingested = time.perf_counter()
    raw = engine.read_parquet(con, str(folder / "raw.parquet"))
    result = cleaning.clean_transactions(raw)
    write_table(result.table, UPath(folder / "clean.parquet"))
    cleaned = time.perf_counter()
    clean = engine.read_parquet(con, str(folder / "clean.parquet"))
    write_table(rfm.rfm_table(clean, rfm.default_as_of(clean)), UPath(folder / "rfm.parquet"))
    done = time.perf_counter()
    return {
        "start_seconds": round(connected - started, 1),
        "ingest_seconds": round(ingested - connected, 1),
        "clean_seconds": round(cleaned - ingested, 1),
        "rfm_seconds": round(done - cleaned, 1),
        "seconds": round(done - connected, 1),
        "clean_rows": int(result.funnel["rows_after"].iloc[-1]),
        "peak_mib": memory.stop(),
    }


def load_into_postgres(source: Path) -> float:
    """The scaled log as table `bench_transactions` (with its line numbers); seconds taken."""
    import psycopg

    from rfm_pipeline.core import engine

    started = time.perf_counter()
    table = engine.read_parquet_in_order(engine.connect(), source)
    with psycopg.connect(DATABASE) as connection:
        connection.execute("DROP TABLE IF EXISTS bench_transactions")
        engine.copy_into(connection, "bench_transactions", table.to_pyarrow_batches())
    return round(time.perf_counter() - started, 1)


def same_rfm(folder: Path, backend: str) -> bool:
    import pandas as pd

    def read(name: str) -> pd.DataFrame:
        table = pd.read_parquet(folder / name / "rfm.parquet")
        return table.sort_values("customer_id", ignore_index=True).astype(str)

    return read(backend).equals(read("duckdb"))


def run(repeats: int = 1, reference_repeats: int = 1, sizes: tuple[int, ...] = (10, 50)):
    rows = []
    for size, folder, source, lines in scaled_logs(sizes):
        row = {
            "size": size,
            "lines": lines,
            "postgres_load_seconds": load_into_postgres(source),
        }
        for backend in ENGINES:
            (folder / backend).mkdir()
            where = DATABASE if backend == "postgres" else str(source)
            command = [
                sys.executable,
                "-m",
                "benchmarks.engines",
                backend,
                where,
                str(folder / backend),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row[backend] = json.loads(done.stdout.strip().splitlines()[-1])
            row[backend]["same_rfm_as_duckdb"] = same_rfm(folder, backend)
            print(json.dumps({size: {backend: row[backend]}}), flush=True)
        rows.append(row)
    return {
        "benchmark": "ingest + clean + RFM on DuckDB, Spark local[2] and PostgreSQL",
        "sizes": rows,
    }


if __name__ == "__main__":
    backend, source, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    print(json.dumps(stage(backend, source, folder)))
