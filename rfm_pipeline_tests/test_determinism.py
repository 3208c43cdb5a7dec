"""Same input, same results, whatever the thread count and whatever x86-64 CPU runs it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from upath import UPath

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.ingest import read_transactions
from rfm_pipeline.core.model_files import load_model
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


def digest(path) -> str:
    """The sha256 of a file; of a clean table, of its rows in line order (it has no order of
    its own: the lines come back from the cancellation join as the threads finish)."""
    if path.name.startswith("clean") and path.suffix == ".parquet":
        rows = pd.read_parquet(path).sort_values("line_no", ignore_index=True)
        return hashlib.sha256(pd.util.hash_pandas_object(rows).to_numpy().tobytes()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def outputs(threads: int, source, folder) -> dict[str, str]:
    """Clean transactions, RFM table and scores, and PCA segments; the digest of each file."""
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
    return {name: digest(path) for name, path in files.items()}


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


def test_whole_runs_on_another_cpu_and_thread_count_give_identical_outputs(tmp_path):
    """The whole command twice, in fresh processes, on the first 60,000 lines of the bundled
    data: once as installed on two threads, once on one thread as if on another CPU. Every
    file in the warehouse (each week's and the stable one) byte for byte: tables, exports,
    model cards, plots and the report; the clean table row for row in line order; the model
    files (whose zip and NetCDF wrappers carry object ids and times) hold the same models."""
    source = tmp_path / "sample.parquet"
    assert in_row_groups(pq.read_table(BUNDLED_INPUT).slice(0, 60_000), source, 10_000) == 6
    assert threads_reading(2, source) == 2  # two threads can share the reading
    warehouses = []
    for threads, start, machine in (
        (2, ["-m", "rfm_pipeline.cli"], {}),
        (1, ["-c", OTHER_CPU], OTHER_CPU_ENV),
    ):
        warehouse = tmp_path / f"warehouse_{threads}"
        command = [
            sys.executable,
            *start,
            "run",
            "--input",
            str(source),
            "--warehouse",
            str(warehouse),
            "--threads",
            str(threads),
        ]
        env = {
            **os.environ,
            "DAGSTER_HOME": str(tmp_path / f"home_{threads}"),
            **machine,
            "OMP_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
        }
        subprocess.run(command, check=True, capture_output=True, env=env)
        warehouses.append(warehouse)
    files = [sorted(p.relative_to(w) for p in w.rglob("*") if p.is_file()) for w in warehouses]
    assert files[0] == files[1]
    kinds = {p.suffix for p in files[0]}
    assert {".parquet", ".csv", ".json", ".png", ".html", ".skops", ".nc"} <= kinds
    models = {".skops", ".nc"}
    differ = [
        str(p)
        for p in files[0]
        if p.suffix not in models and digest(warehouses[0] / p) != digest(warehouses[1] / p)
    ]
    assert differ == []
    for path in (p for p in files[0] if p.suffix in models):
        customers = warehouses[0] / "customer_segments.parquet"
        assert same_model(warehouses[0] / path, warehouses[1] / path, customers), path


def same_model(first, second, customers) -> bool:
    """Whether two model files hold the same model: a NetCDF file's groups equal value for
    value; a skops file's model the same content hash or, for a classifier (a forest pickles
    differently from one process to the next), the same parameters and the same probabilities
    for every customer of `customers`."""
    if first.suffix == ".nc":
        with xr.open_datatree(first) as one, xr.open_datatree(second) as two:
            return one.equals(two)  # the same groups, each value for value
    saved = load_model(UPath(first))
    one, two = saved.model, load_model(UPath(second)).model
    if joblib.hash(one) == joblib.hash(two):
        return True
    features = pd.read_parquet(customers)[saved.card["features"]].to_numpy()
    return one.get_params() == two.get_params() and np.array_equal(
        one.predict_proba(features), two.predict_proba(features)
    )
