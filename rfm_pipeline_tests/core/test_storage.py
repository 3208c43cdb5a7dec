"""Atomic Parquet writes: a file is either the old version or the new one, whole."""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow.parquet as pq
import pytest
from upath import UPath

from rfm_pipeline.core.storage import write_table


def test_frames_and_engine_tables_round_trip(con, tmp_path):
    frame = pd.DataFrame({"customer_id": ["1", "2"], "monetary": [10.5, 3.0]})
    write_table(frame, UPath(tmp_path / "frame.parquet"))
    write_table(con.create_table("t", ibis.memtable(frame)), UPath(tmp_path / "table.parquet"))
    for name in ("frame", "table"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"{name}.parquet"), frame)


def test_writing_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "warehouse" / "x.parquet"
    write_table(pd.DataFrame({"a": [1]}), UPath(target))
    assert [p.name for p in target.parent.iterdir()] == ["x.parquet"]


def test_a_failed_write_keeps_the_previous_file(con, tmp_path):
    target = tmp_path / "x.parquet"
    write_table(pd.DataFrame({"a": [1, 2, 3]}), UPath(target))
    before = target.read_bytes()
    failing = con.create_table("bad", ibis.memtable({"a": ["1", "x"]})).mutate(
        a=lambda t: t.a.cast("int64")  # fails while the engine writes
    )
    with pytest.raises(Exception, match="Could not convert"):
        write_table(failing, UPath(target))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]
    assert pq.read_table(target).num_rows == 3


def test_unknown_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot store a dict"):
        write_table({"a": 1}, UPath(tmp_path / "x.parquet"))
