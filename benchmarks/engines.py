"""Ingest + clean + RFM on each engine, at 10 and 50 times the bundled data, in one run.

For each size the scaled log (`scale.scale_up`) goes through the three transaction-level
assets as the pipeline runs them: each stage reads the stored Parquet of the one before on
the engine and writes its own from the engine. DuckDB reads the file in process; Spark reads
it with its own reader and writes folders of parts, in local mode (local[2]) and, when their
URLs are given, on a standalone cluster and through a Spark Connect server (started as the
README's "Beyond one machine" says); PostgreSQL reads the log from a table of the database
(loaded beforehand, as a shop keeping its log there would have it; the load is reported
apart) and takes each stored table back with COPY. Every engine's clean and RFM tables are
checked against DuckDB's. Peak memory is sampled every 0.2 s over the process, its children
(local Spark's JVM), the cluster's executors or the Connect server, and the PostgreSQL server
process serving it.
Run: `python -m benchmarks engines [--sizes 10,50] [--spark-cluster spark://127.0.0.1:7077]
[--spark-connect sc://127.0.0.1:15002]`.
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
SPARK_SERVICES = {"spark": "org.apache.spark.executor.", "sc": "SparkConnectServer"}
"""In the command line of the JVMs that do a remote session's work, by the master's scheme:
a cluster's executors, or the Connect server."""


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


def spark_services(master: str) -> set[int]:
    """The processes doing the work of a cluster's or a Connect server's sessions here."""
    name = SPARK_SERVICES[master.partition("://")[0]]
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if name in text:
            found.add(int(cmdline.parent.name))
    return found


class PeakMemory:
    """Samples the memory of this process tree and extra pids (given, or found by `more`
    at each sample) until stopped."""

    def __init__(self, extra: set[int] = frozenset(), more=lambda: set()) -> None:
        self.extra, self.more = set(extra), more
        self.peak, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            pids = descendants(os.getpid()) | self.extra | self.more()
            self.peak = max(self.peak, rss_mib(pids))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return round(self.peak)


def stage(backend: str, source: str, folder: Path, master: str = "local[2]") -> dict:
    """One engine's ingest, clean and RFM, each stored and read back as the assets do."""
    from upath import UPath

    from rfm_pipeline.core import cleaning, engine, rfm
    from rfm_pipeline.core.ingest import read_transactions
    from rfm_pipeline.core.storage import write_table

    started = time.perf_counter()
    con = engine.shared_connection(
        backend,
        memory_limit="4GB",
        database=DATABASE,
        temp_directory=str(folder / "spill"),
        spark_master=master,
        spark_staging=str(folder / "staging"),
    )
    server = set()
    if backend == "postgres":
        server = {int(con.raw_sql("SELECT pg_backend_pid()").fetchone()[0])}
    remote = backend == "spark" and not engine.is_local_spark(master)
    memory = PeakMemory(server, (lambda: spark_services(master)) if remote else lambda: set())
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


def same_tables(folder: Path, setup: str) -> bool:
    """Whether a setup's clean and RFM tables equal DuckDB's, row for row."""
    import pandas as pd

    def read(name: str, table: str) -> pd.DataFrame:
        frame = pd.read_parquet(folder / name / table).astype(str)
        return frame.sort_values(list(frame.columns), ignore_index=True)

    tables = ("clean.parquet", "rfm.parquet")
    return all(read(setup, table).equals(read("duckdb", table)) for table in tables)


def setups(spark_cluster: str | None, spark_connect: str | None) -> dict[str, tuple[str, str]]:
    """The engines measured, by name: (backend, Spark master)."""
    found = {"duckdb": ("duckdb", ""), "spark-local": ("spark", "local[2]")}
    if spark_cluster:
        found["spark-cluster"] = ("spark", spark_cluster)
    if spark_connect:
        found["spark-connect"] = ("spark", spark_connect)
    return found | {"postgres": ("postgres", "")}


def run(
    repeats: int = 1,
    reference_repeats: int = 1,
    sizes: tuple[int, ...] = (10, 50),
    spark_cluster: str | None = None,
    spark_connect: str | None = None,
):
    rows = []
    for size, folder, source, lines in scaled_logs(sizes):
        row = {
            "size": size,
            "lines": lines,
            "postgres_load_seconds": load_into_postgres(source),
        }
        for name, (backend, master) in setups(spark_cluster, spark_connect).items():
            out = folder / name
            (out / "staging").mkdir(parents=True)
            where = DATABASE if backend == "postgres" else str(source)
            command = [sys.executable, "-m", "benchmarks.engines", backend, where, str(out)]
            # a cluster's executors get the memory local mode's driver has
            environment = {
                **os.environ,
                "SPARK_LOCAL_IP": "127.0.0.1",
                "SPARK_EXECUTOR_MEMORY": "4g",
            }
            done = subprocess.run(
                [*command, master], capture_output=True, text=True, check=True, env=environment
            )
            row[name] = json.loads(done.stdout.strip().splitlines()[-1])
            row[name]["same_tables_as_duckdb"] = same_tables(folder, name)
            print(json.dumps({size: {name: row[name]}}), flush=True)
        rows.append(row)
    return {
        "benchmark": "ingest + clean + RFM on DuckDB, Spark (local[2], a standalone cluster,"
        " Spark Connect) and PostgreSQL",
        "sizes": rows,
    }


if __name__ == "__main__":
    backend, source, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    print(json.dumps(stage(backend, source, folder, sys.argv[4] or "local[2]")))
