"""Atomic Parquet writes: a file is either the old version or the new one, whole."""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from rfm_pipeline.core.storage import Journal, export_to_database, write_table


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


def test_spark_writes_a_folder_that_replaces_the_table_whole(spark, tmp_path):
    from rfm_pipeline.core.engine import transfer
    from rfm_pipeline.core.storage import Journal

    target = UPath(tmp_path / "t.parquet")
    old = pd.DataFrame({"a": [1, 2, 3]})
    write_table(old, target)
    journal = Journal(UPath(tmp_path), "run1")
    journal.keep(target)
    new = transfer(pa.table({"a": [7, 8]}).to_reader(), spark)
    write_table(new, target)
    assert target.is_dir()  # Spark's own parts
    assert sorted(pd.read_parquet(tmp_path / "t.parquet")["a"]) == [7, 8]
    assert journal.restore() == 1  # the run failed later: the old file is back
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]


def test_a_journal_notes_each_files_output_and_left_journals_restore_newest_first(tmp_path):
    root = UPath(tmp_path)
    table = tmp_path / "rfm_table" / "2011-11-28.parquet"
    table.parent.mkdir()
    table.write_bytes(b"before both runs")
    older, newer = Journal(root, "run-b"), Journal(root, "run-a")  # not in name order
    older.keep(root / "rfm_table" / "2011-11-28.parquet", ("rfm_table", "2011-11-28"))
    older.keep(root / "rfm_table.parquet")  # the stable copy: no output of its own
    table.write_bytes(b"by the older run")
    newer.keep(root / "rfm_table" / "2011-11-28.parquet", ("rfm_table", "2011-11-28"))
    newer.keep(root / "raw_transactions.parquet", ("raw_transactions", None))
    table.write_bytes(b"by the newer run")
    assert older.outputs() == {("rfm_table", "2011-11-28"): [table]}
    assert set(newer.outputs()) == {("rfm_table", "2011-11-28"), ("raw_transactions", None)}

    assert Journal.abandoned(root, "run-c") == []  # this process keeps them
    older.release()
    newer.release()
    left = Journal.abandoned(root, "run-c")
    assert [j.run_id for j in left] == ["run-a", "run-b"]
    for journal in left:
        journal.restore()
    assert table.read_bytes() == b"before both runs"
    assert not (tmp_path / ".previous").exists()


def test_an_output_that_is_a_folder_is_put_back_whole(tmp_path):
    root = UPath(tmp_path)
    forecast = tmp_path / "customer_value" / "2011-11-28.forecast"
    forecast.mkdir(parents=True)
    (forecast / "model.nc").write_bytes(b"earlier fit")
    journal = Journal(root, "run-1")
    journal.keep(root / "customer_value" / "2011-11-28.forecast")
    (forecast / "model.nc").write_bytes(b"new fit")
    (forecast / "extra.json").write_text("{}")
    assert journal.restore() == 1
    assert sorted(p.name for p in forecast.iterdir()) == ["model.nc"]
    assert (forecast / "model.nc").read_bytes() == b"earlier fit"


def export_frame(rows: int, segment: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [str(12000 + i) for i in range(rows)],
            "segment": segment,
            "monetary": [round(i * 1.25, 2) for i in range(rows)],
        }
    )


def test_the_export_table_keeps_every_week_and_replaces_one_whole(postgres_url, postgres_schema):
    import threading

    import psycopg

    table = f"{postgres_schema}.segments"
    assert export_to_database(export_frame(3, "old"), postgres_url, table, "2011-11-28") == 3
    export_to_database(export_frame(5, "loyal"), postgres_url, table, "2011-12-05")

    seen: set[tuple] = set()
    writing = threading.Event()

    def read_while_writing() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            while writing.is_set():
                seen.update(
                    connection.execute(
                        f"SELECT count(*), min(segment), max(segment) FROM {table}"
                        " WHERE week = '2011-12-05'"
                    ).fetchall()
                )

    writing.set()
    reader = threading.Thread(target=read_while_writing)
    reader.start()
    try:
        export_to_database(export_frame(200_000, "new"), postgres_url, table, "2011-12-05")
    finally:
        writing.clear()
        reader.join()
    assert seen <= {(5, "loyal", "loyal"), (200_000, "new", "new")}  # never half a week
    assert (5, "loyal", "loyal") in seen
    with psycopg.connect(postgres_url) as connection:
        weeks = connection.execute(
            f"SELECT week::text, count(*), sum(monetary) FROM {table} GROUP BY week ORDER BY week"
        ).fetchall()
    assert weeks[0] == ("2011-11-28", 3, 3.75)
    assert weeks[1][:2] == ("2011-12-05", 200_000)


def test_an_export_table_of_another_layout_is_refused(postgres_url, postgres_schema):
    table = f"{postgres_schema}.segments"
    export_to_database(export_frame(2, "a"), postgres_url, table, "2011-11-28")
    other = export_frame(2, "a").rename(columns={"segment": "segment_name"})
    with pytest.raises(
        ValueError, match=r"segments: its columns differ.*'segment', 'segment_name'"
    ):
        export_to_database(other, postgres_url, table, "2011-12-05")
