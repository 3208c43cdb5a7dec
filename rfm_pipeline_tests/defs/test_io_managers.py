"""The warehouse IO manager: tables by path, models by skops file, earlier weeks as found."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from rfm_pipeline.defs.cleaning import clean_transactions
from rfm_pipeline.defs.ingest import raw_transactions
from rfm_pipeline_tests.defs.conftest import resources


def test_a_missing_upstream_output_is_a_clear_failure(tmp_path):
    with pytest.raises(
        dg.Failure, match="raw_transactions has no output at .*materialise it first"
    ):
        dg.materialize(
            [raw_transactions, clean_transactions],
            resources=resources(tmp_path),
            selection="clean_transactions",
        )


def test_an_input_on_earlier_weeks_holds_the_weeks_found(tmp_path):
    from rfm_pipeline.defs.weeks import previous_week, weeks

    (tmp_path / "history").mkdir()
    pd.DataFrame({"x": [7]}).to_parquet(tmp_path / "history" / "2011-11-21.parquet")

    @dg.asset(partitions_def=weeks, ins={"before": previous_week("history")})
    def history(before: dict[str, pd.DataFrame]) -> pd.DataFrame:
        return pd.DataFrame({"x": [sum(int(f["x"].sum()) for f in before.values()) + 1]})

    for week, expected in (("2011-11-28", 8), ("2011-12-12", 1)):  # 12-05 was never stored
        assert dg.materialize([history], resources=resources(tmp_path), partition_key=week).success
        assert pd.read_parquet(tmp_path / "history" / f"{week}.parquet")["x"].tolist() == [expected]
