"""Outputs survive crashes (a killed writer leaves the old file whole) and stay in the warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from upath import UPath

from rfm_pipeline.core.storage import write_table
from rfm_pipeline.defs.resources import Warehouse

WRITER = """
import sys, ibis
from upath import UPath
from rfm_pipeline.core.storage import write_table
con = ibis.duckdb.connect(threads=1)
big = ibis.range(60_000_000).unnest().name("n").as_table()
big = big.mutate(text=big.n.cast("string").repeat(3))
write_table(con.create_view("big", big), UPath(sys.argv[1]))
"""


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


@pytest.mark.parametrize(
    "part", ["../escape.parquet", "plots/../../x.png", "/etc/passwd", "a/../../b"]
)
def test_warehouse_paths_cannot_lead_outside_it(tmp_path, part):
    with pytest.raises(ValueError, match="would lead outside the warehouse"):
        Warehouse(base_path=str(tmp_path)).path(part)


def test_ordinary_warehouse_paths_are_inside_it(tmp_path):
    path = Warehouse(base_path=str(tmp_path)).path("plots", "eda_revenue_by_month.png")
    assert str(path).startswith(str(tmp_path))
