"""The weekly refresh: partitions, the schedule's ticks, freshness, and a three-week backfill."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pandas as pd
import pytest

from rfm_pipeline.cli import main
from rfm_pipeline.core.export import EXPORT_COLUMNS
from rfm_pipeline.definitions import defs
from rfm_pipeline.defs.weeks import WEEKLY_ASSETS, weekly_segmentation_schedule, weeks
from rfm_pipeline.settings import BUNDLED_INPUT

BACKFILL = ["2011-11-14", "2011-11-21", "2011-11-28"]


def test_the_bundled_datas_complete_weeks_are_52_partitions():
    complete = weeks.get_partition_keys_in_range(dg.PartitionKeyRange("2010-12-06", "2011-11-28"))
    assert len(complete) == 52
    assert complete[:2] == ["2010-12-06", "2010-12-13"]
    window = weeks.time_window_for_partition_key("2011-11-28")
    assert (window.start.date(), window.end.date()) == (dt.date(2011, 11, 28), dt.date(2011, 12, 5))


def test_every_customer_level_asset_is_weekly_and_the_job_refreshes_its_inputs():
    graph = defs.resolve_asset_graph()
    partitioned = {
        key.to_user_string() for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None
    }  # fmt: skip
    assert partitioned == set(WEEKLY_ASSETS)
    job = defs.resolve_job_def("weekly_segmentation")
    names = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    assert names >= {*WEEKLY_ASSETS, "raw_transactions", "clean_transactions", "customer_interests"}
    assert "interest_classifier" not in names


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (dt.datetime(2011, 12, 5, 6, 0, tzinfo=dt.UTC), "2011-11-28"),
        (dt.datetime(2011, 12, 12, 6, 0, tzinfo=dt.UTC), "2011-12-05"),
    ],
)
def test_the_schedule_runs_monday_morning_for_the_week_that_just_ended(tick, week):
    assert weekly_segmentation_schedule.cron_schedule == "0 6 * * 1"
    assert weekly_segmentation_schedule.execution_timezone == "UTC"
    context = dg.build_schedule_context(scheduled_execution_time=tick)
    request = weekly_segmentation_schedule(context)
    assert request.partition_key == week


def freshness(instance) -> dg.AssetCheckEvaluation:
    result = defs.resolve_job_def("check_freshness").execute_in_process(instance=instance)
    return result.get_asset_check_evaluations()[0]


def test_freshness_fails_without_a_recent_week_and_passes_with_one():
    with dg.instance_for_test() as instance:
        assert not freshness(instance).passed  # no week at all
        report = instance.report_runless_asset_event
        report(dg.AssetMaterialization("customer_segments", partition="2011-11-28"))
        stale = freshness(instance)
        assert not stale.passed
        assert stale.metadata["newest_week"].value == "2011-11-28"
        today = dt.datetime.now(dt.UTC)
        last_week = (today.date() - dt.timedelta(days=today.weekday() + 7)).isoformat()
        report(dg.AssetMaterialization("customer_segments", partition=last_week))
        assert freshness(instance).passed


SELECTION = ["raw_transactions", "clean_transactions", "product_categories", "customer_interests",
             "rfm_table", "rfm_scores", "rfm_features", "pca_segmentation", "pca_sweep",
             "umap_segmentation", "umap_sweep", "tsne_segmentation", "tsne_sweep",
             "customer_segments", "segment_transitions", "segment_export"]  # fmt: skip


@pytest.fixture(scope="module")
def backfill(tmp_path_factory):
    """Three consecutive weeks of a tenth of the bundled customers, in a Dagster instance of
    their own."""
    home = tmp_path_factory.mktemp("weeks")
    source = pd.read_parquet(BUNDLED_INPUT)
    sample = home / "tenth.parquet"
    source[source["CustomerID"] % 10 == 0].to_parquet(sample, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
        weeks_arg = f"{BACKFILL[0]}:{BACKFILL[-1]}"
        code = main(["run", "--input", str(sample), "--warehouse", str(home / "warehouse"),
                     "--week", weeks_arg, "--select", ",".join(SELECTION)])  # fmt: skip
        assert code == 0
        with dg.DagsterInstance.get() as instance:
            done = instance.get_materialized_partitions(dg.AssetKey("customer_segments"))
            records = instance.fetch_materializations(
                dg.AssetKey("segment_transitions"), limit=10
            ).records
            metadata = {
                r.asset_materialization.partition: {
                    k: v.value for k, v in r.asset_materialization.metadata.items()
                }
                for r in records
            }
    return home / "warehouse", done, metadata


def weekly(warehouse, name: str, week: str) -> pd.DataFrame:
    return pd.read_parquet(warehouse / name / f"{week}.parquet")


def test_a_backfill_materialises_each_week_as_of_its_end(backfill):
    warehouse, done, _ = backfill
    assert done == set(BACKFILL)
    for week in BACKFILL:
        as_of = dt.date.fromisoformat(week) + dt.timedelta(days=7)
        assert set(weekly(warehouse, "rfm_table", week)["as_of"].astype(str)) == {str(as_of)}
    newest = weekly(warehouse, "customer_segments", BACKFILL[-1])
    assert pd.read_parquet(warehouse / "customer_segments.parquet").equals(newest)


def test_transitions_add_up_to_both_weeks(backfill):
    warehouse, _, metadata = backfill
    for before, week in zip(BACKFILL, BACKFILL[1:], strict=False):
        moves = weekly(warehouse, "segment_transitions", week)
        last = weekly(warehouse, "customer_segments", before)
        this = weekly(warehouse, "customer_segments", week)
        assert (moves["movement"] != "new").sum() == len(last)
        assert (moves["movement"] != "gone").sum() == len(this)
        assert (moves["movement"] == "new").sum() == len(
            set(this["customer_id"]) - set(last["customer_id"])
        )
        assert set(moves["movement"]) <= {"same", "up", "down", "new", "gone"}
        shown = metadata[week]
        assert shown["compared_with_week"] == before
        assert (shown["customers_last_week"], shown["customers_this_week"]) == (
            len(last),
            len(this),
        )
        assert shown["moved_down"] == (moves["movement"] == "down").sum()
        assert len(shown["moved_down_alerts"].records) == min(50, shown["moved_down"])


def test_kept_segments_keep_their_names_from_week_to_week(backfill):
    warehouse, _, _ = backfill
    for before, week in zip(BACKFILL, BACKFILL[1:], strict=False):
        names = {
            w: weekly(warehouse, "customer_segments", w).groupby("segment_id")["segment_name"]
            .first()
            for w in (before, week)
        }  # fmt: skip
        shared = names[before].index.intersection(names[week].index)
        assert len(shared) >= 2
        assert names[before][shared].equals(names[week][shared])
    every = pd.concat(weekly(warehouse, "customer_segments", w) for w in BACKFILL)
    assert (every.groupby("segment_id")["segment_name"].nunique() == 1).all()  # ids not reused


def test_the_export_has_a_csv_and_parquet_per_week_with_the_documented_columns(backfill):
    warehouse, _, _ = backfill
    for week in BACKFILL:
        table = pd.read_csv(
            warehouse / "segment_export" / f"{week}.csv", dtype={"customer_id": str}
        )
        assert table.columns.tolist() == list(EXPORT_COLUMNS)
        stored = weekly(warehouse, "segment_export", week)
        assert {c: str(t) for c, t in stored.dtypes.items()} == EXPORT_COLUMNS
        assert len(stored) == len(weekly(warehouse, "customer_segments", week))
    newest = (warehouse / "segment_export" / f"{BACKFILL[-1]}.csv").read_bytes()
    assert (warehouse / "segment_export.csv").read_bytes() == newest
