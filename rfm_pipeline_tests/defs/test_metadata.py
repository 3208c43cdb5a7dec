"""Metadata helpers: one conversion to plain types, tables, upstream metadata of the same week."""

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd

from rfm_pipeline.defs.metadata import plain, table_metadata


def test_plain_turns_numpy_and_dates_into_python_values():
    converted = plain(
        {
            "count": np.int64(3),
            "share": np.float64(0.5),
            "list": [np.float32(1.5)],
            "nested": {"k": np.int32(2)},
            "day": dt.date(2011, 12, 5),
            "nothing": pd.NA,
            "text": "x",
            "already": dg.MetadataValue.md("a"),
        }
    )
    assert converted == {
        "count": 3,
        "share": 0.5,
        "list": [1.5],
        "nested": {"k": 2},
        "day": "2011-12-05",
        "nothing": None,
        "text": "x",
        "already": dg.MetadataValue.md("a"),
    }
    assert type(converted["count"]) is int and type(converted["list"][0]) is float


def test_a_table_keeps_its_column_types_and_shows_missing_numbers_as_none():
    table = table_metadata(pd.DataFrame({"n": [1, 2], "x": [0.5, np.nan], "s": ["a", "b"]}))
    assert [c.type for c in table.schema.columns] == ["int", "float", "string"]
    assert [r.data for r in table.records] == [
        {"n": 1, "x": 0.5, "s": "a"},
        {"n": 2, "x": None, "s": "b"},
    ]
