"""Nothing lost: killed writers and failed runs leave the previous outputs; paths stay inside."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time

import pandas as pd
from upath import UPath

from rfm_pipeline.cli import main
from rfm_pipeline.core.storage import Journal, write_table
from rfm_pipeline_tests.conftest import UCI_ROWS, hashes, uci_frame

WRITER = """
import sys, ibis
from upath import UPath
from rfm_pipeline.core.storage import write_table
con = ibis.duckdb.connect(threads=1)
big = con.sql("SELECT range AS n, repeat(CAST(range AS VARCHAR), 3) AS text FROM range(60000000)")
write_table(big, UPath(sys.argv[1]))
"""
"""Writes 60 million generated rows, streamed: its temporary file appears at once and takes
seconds to fill."""


def test_a_writer_killed_mid_write_leaves_the_old_file_and_the_next_write_works(tmp_path):
    target = tmp_path / "table.parquet"
    write_table(pd.DataFrame({"old": [1, 2, 3]}), UPath(target))
    before = target.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".table.parquet.*.tmp")):
        assert writer.poll() is None, "the writer finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # well into the write
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert target.read_bytes() == before
    assert pd.read_parquet(target)["old"].tolist() == [1, 2, 3]
    write_table(pd.DataFrame({"new": [4]}), UPath(target))
    assert pd.read_parquet(target)["new"].tolist() == [4]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]  # the partial file is gone


def test_the_journal_puts_back_what_a_run_replaced_and_removes_what_it_created(tmp_path):
    root = UPath(tmp_path)
    (tmp_path / "plots").mkdir()
    (tmp_path / "old.parquet").write_bytes(b"old table")
    (tmp_path / "plots" / "old.png").write_bytes(b"old plot")
    journal = Journal(root, "run-1")
    for name in ("old.parquet", "plots/old.png", "new.parquet"):
        journal.keep(root / name)
        (tmp_path / name).write_bytes(b"written by the failing run")
    journal.keep(root / "old.parquet")  # a second write keeps the first version
    assert journal.restore() == 3
    assert (tmp_path / "old.parquet").read_bytes() == b"old table"
    assert (tmp_path / "plots" / "old.png").read_bytes() == b"old plot"
    assert not (tmp_path / "new.parquet").exists()
    assert not (tmp_path / ".previous").exists()


def test_a_run_that_fails_after_writing_leaves_the_warehouse_byte_identical(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    warehouse = tmp_path / "warehouse"
    good = tmp_path / "good.parquet"
    uci_frame(UCI_ROWS).to_parquet(good)
    assert main(["run", "--input", str(good), "--warehouse", str(warehouse)]) == 0
    before = hashes(warehouse)
    # readable, so raw_transactions is rewritten; then cleaning leaves nothing and the run fails
    bad = tmp_path / "cancellations.parquet"
    uci_frame(UCI_ROWS).assign(InvoiceNo="C1", Quantity=-1).to_parquet(bad)
    assert main(["run", "--input", str(bad), "--warehouse", str(warehouse)]) == 2
    assert hashes(warehouse) == before


def test_a_run_killed_mid_way_is_put_back_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    warehouse = tmp_path / "warehouse"
    good = tmp_path / "good.parquet"
    uci_frame(UCI_ROWS).to_parquet(good)
    args = ["run", "--warehouse", str(warehouse)]
    assert main([*args, "--input", str(good), "--select", "raw_transactions"]) == 0
    before = hashes(warehouse)
    # the bundled log, with the slow category step after it: killed once raw is replaced
    slow = "raw_transactions,clean_transactions,product_categories"
    killed = subprocess.Popen(
        [sys.executable, "-m", "rfm_pipeline.cli", *args, "--select", slow],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # the file is replaced by a rename, so it is always whole; the folder also holds the
    # run's partial files, which come and go while it writes
    raw = warehouse / "raw_transactions.parquet"
    deadline = time.monotonic() + 120
    while hashlib.sha256(raw.read_bytes()).hexdigest() == before["raw_transactions.parquet"]:
        assert killed.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert list((warehouse / ".previous").iterdir())  # the killed run's journal is left
    assert main([*args, "--input", str(good), "--select", "raw_transactions"]) == 0
    assert hashes(warehouse) == before  # every file as before, no copy or partial file left
