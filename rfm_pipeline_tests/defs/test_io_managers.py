"""The warehouse IO manager: tables by path, models by skops file, earlier weeks as found, and
what a table carries (the only way settings and summaries reach later assets)."""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest

from rfm_pipeline.core.value import FILES
from rfm_pipeline.defs.cleaning import clean_transactions
from rfm_pipeline.defs.ingest import raw_transactions
from rfm_pipeline.defs.io_managers import carried
from rfm_pipeline_tests.defs.conftest import CLEANING, WEEK, resources


def test_a_missing_upstream_output_is_a_clear_failure(tmp_path):
    with pytest.raises(
        dg.Failure, match=r"raw_(summary|transactions) has no output at .*materialise it first"
    ):
        dg.materialize(
            [raw_transactions, clean_transactions],
            resources=resources(tmp_path),
            selection=CLEANING,
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


def test_assets_need_only_the_warehouse_not_the_event_log(graph, tmp_path):
    """A fresh instance over the graph's warehouse: the assets that take settings, summaries
    and models from earlier stages find all of it in storage, and make what they made."""
    from rfm_pipeline.definitions import defs

    warehouse = tmp_path / "warehouse"
    shutil.copytree(graph.warehouse, warehouse)
    report = (warehouse / "segment_report.html").read_text()
    for name in ("segment_report.html", "new_customer_evaluation.parquet"):
        (warehouse / name).unlink()
    shutil.rmtree(warehouse / "value_model.forecast")
    selection = [
        "customer_value",
        "value_model",
        "new_customer_evaluation",
        "interest_classifier",
        "segment_report",
    ]
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            defs.assets,
            selection=selection,
            resources=resources(warehouse),
            partition_key=WEEK,
            instance=instance,
        )
    assert result.success
    assert (warehouse / "segment_report.html").read_text() == report
    for name in ("new_customer_evaluation", "customer_value"):
        again = pd.read_parquet(warehouse / f"{name}.parquet")
        pd.testing.assert_frame_equal(again, graph.table(name))
        assert again.attrs == graph.table(name).attrs
    assert sorted(p.name for p in (warehouse / "value_model.forecast").iterdir()) == sorted(
        FILES.values()
    )


def test_a_table_written_without_what_it_carries_names_the_asset_to_redo():
    with pytest.raises(dg.Failure, match="rfm_features carries no settings: materialise"):
        carried(pd.DataFrame({"x": [1]}), "settings", "rfm_features")
