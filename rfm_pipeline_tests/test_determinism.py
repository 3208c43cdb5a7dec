"""Same input, same results, whatever the thread count and whatever x86-64 CPU runs it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.ingest import read_transactions
from rfm_pipeline.core.spaces import segment
from rfm_pipeline.core.storage import write_table
from rfm_pipeline.settings import BUNDLED_INPUT


def in_row_groups(table: pa.Table, path, rows: int) -> int:
    """Write `table` at `path` in row groups of `rows` lines, so that the engine can hand each
    group to another thread (one row group is read by one thread, whatever the count);
    returns the number of row groups written."""
    pq.write_table(table, path, row_group_size=rows)
    return pq.ParquetFile(path).metadata.num_row_groups


def threads_reading(threads: int, path) -> int:
    """How many threads a connection of `threads` uses to read `path`, as the log is read
    (with each line's position): a function in the query notes the thread of each chunk."""
    con = connect(threads=threads)
    seen = set()

    def note(values):
        seen.add(threading.get_ident())
        return values

    con.con.create_function("note_thread", note, ["BIGINT"], "BIGINT", type="arrow")
    scan = f"read_parquet('{path}', file_row_number = true)"
    con.con.sql(f"SELECT sum(note_thread(file_row_number)) FROM {scan}").fetchall()
    return len(seen)


def outputs(threads: int, source, folder) -> dict[str, str]:
    """Clean transactions, RFM table and scores, and PCA segments; the sha256 of each file."""
    con = connect(threads=threads)
    clean = cleaning.clean_transactions(read_transactions(con, source)).table
    files = {"clean": folder / f"clean_{threads}.parquet", "rfm": folder / f"rfm_{threads}.parquet"}
    write_table(clean, UPath(files["clean"]))
    written = con.read_parquet(files["clean"])
    write_table(rfm.rfm_table(written, rfm.default_as_of(written)), UPath(files["rfm"]))
    table = pd.read_parquet(files["rfm"])
    frames = {
        "scores": rfm.rfm_scores(table)[0],
        "segments": segment(rfm.rfm_features(table).table, "pca", range(2, 6)).table,
    }
    for name, frame in frames.items():
        files[name] = folder / f"{name}_{threads}.parquet"
        write_table(frame, UPath(files[name]))
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def test_one_thread_and_two_give_identical_files(tmp_path):
    """The bundled log in row groups of 50,000 lines, so that two threads share the work (the
    bundled file is one row group, read by one thread whatever the count)."""
    source = tmp_path / "online_retail.parquet"
    assert in_row_groups(pq.read_table(BUNDLED_INPUT), source, 50_000) == 11  # 541,909 lines
    assert threads_reading(2, BUNDLED_INPUT) == 1
    assert threads_reading(1, source) == 1
    assert threads_reading(2, source) == 2
    assert outputs(1, source, tmp_path) == outputs(2, source, tmp_path)


OTHER_CPU = """
import sys
import llvmlite.binding as ll
ll.get_host_cpu_name = lambda: "nehalem"  # what numba asks LLVM: a CPU without AVX or FMA
ll.get_host_cpu_features = ll.FeatureMap
from rfm_pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""The command on another machine, as far as one machine can play it: numba told this is a
Nehalem, OpenBLAS on its Sandybridge kernels, numpy's dispatch down to its baseline."""

OTHER_CPU_ENV = {
    "OPENBLAS_CORETYPE": "Sandybridge",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
}


def test_whole_runs_on_another_cpu_and_thread_count_give_identical_tables(tmp_path):
    """The command twice, in fresh processes, on the first 60,000 lines of the bundled data:
    once as installed on two threads, once on one thread as if on another CPU. Every table
    in the warehouse (each week's and the stable one) byte for byte."""
    source = tmp_path / "sample.parquet"
    assert in_row_groups(pq.read_table(BUNDLED_INPUT).slice(0, 60_000), source, 10_000) == 6
    assert threads_reading(2, source) == 2  # two threads can share the reading
    digests = []
    for threads, start, machine in (
        (2, ["-m", "rfm_pipeline.cli"], {}),
        (1, ["-c", OTHER_CPU], OTHER_CPU_ENV),
    ):
        warehouse = tmp_path / f"warehouse_{threads}"
        command = [sys.executable, *start, "run", "--input", str(source),
                   "--warehouse", str(warehouse), "--threads", str(threads),
                   "--select", ",".join(CHAIN)]  # fmt: skip
        env = {**os.environ, "DAGSTER_HOME": str(tmp_path / f"home_{threads}"), **machine}
        subprocess.run(command, check=True, capture_output=True, env=env)
        tables = sorted([*warehouse.rglob("*.parquet"), *warehouse.rglob("*.csv")])
        digests.append({
            str(p.relative_to(warehouse)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in tables
        })  # fmt: skip
    assert len(digests[0]) == 39  # 5 whole tables, 16 weekly ones twice, the export's CSV twice
    assert digests[0] == digests[1]


CHAIN = ["raw_transactions", "clean_transactions", "eda_report", "rfm_table", "rfm_scores",
         "rfm_features", "pca_segmentation", "pca_sweep", "umap_segmentation", "umap_sweep",
         "tsne_segmentation", "tsne_sweep", "value_backtest", "customer_value",
         "segment_registry", "customer_segments",
         "segment_profiles", "product_categories", "customer_interests", "segment_transitions",
         "segment_export"]  # fmt: skip
