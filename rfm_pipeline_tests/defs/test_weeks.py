"""The weekly refresh: partitions, the schedule's ticks, freshness, a three-week backfill, and
weeks materialised out of order."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time

from rfm_pipeline.cli import main
from rfm_pipeline.core import naming, segments
from rfm_pipeline.core.delivery import EXPORT_COLUMNS
from rfm_pipeline.definitions import defs
from rfm_pipeline.defs.weeks import (
    FRESHNESS,
    WEEKLY_ASSETS,
    compared_with,
    weekly_segmentation_schedule,
    weeks,
)
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
        key.to_user_string()
        for key in graph.materializable_asset_keys
        if graph.get(key).partitions_def is not None
    }
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


SEGMENTS = dg.AssetKey("customer_segments")


def freshness(instance: dg.DagsterInstance, now: dt.datetime) -> FreshnessState:
    """customer_segments' freshness at `now`, as Dagster's freshness daemon evaluates it."""
    node = defs.resolve_asset_graph().get(SEGMENTS)
    evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(node.freshness_policy)]()
    with freeze_time(now):
        return asyncio.run(evaluator.evaluate_freshness(LoadingContextForTest(instance), node))


def materialise(instance: dg.DagsterInstance, week: str, at: dt.datetime) -> None:
    with freeze_time(at):
        instance.report_runless_asset_event(dg.AssetMaterialization(SEGMENTS, partition=week))


MONDAY_RUN = dt.datetime(2026, 11, 30, 6, 5, tzinfo=dt.UTC)
"""When a Monday tick's run materialised the week that ended at midnight, 2026-11-23."""


def test_the_newest_week_is_fresh_after_its_monday_run_and_stale_a_day_after_a_missed_one():
    assert defs.resolve_asset_graph().get(SEGMENTS).freshness_policy == FRESHNESS
    next_run = MONDAY_RUN + dt.timedelta(weeks=1)
    with dg.instance_for_test() as instance:
        assert freshness(instance, MONDAY_RUN) == FreshnessState.UNKNOWN  # no week at all
        materialise(instance, "2026-11-23", MONDAY_RUN)
        assert freshness(instance, MONDAY_RUN + dt.timedelta(hours=1)) == FreshnessState.PASS
        assert freshness(instance, next_run - dt.timedelta(minutes=5)) == FreshnessState.PASS
        # the next Monday's run has not come: six hours late a warning, a day late a failure
        assert freshness(instance, next_run + dt.timedelta(hours=7)) == FreshnessState.WARN
        assert freshness(instance, next_run + dt.timedelta(days=1)) == FreshnessState.FAIL
        materialise(instance, "2026-11-30", next_run + dt.timedelta(days=1, hours=2))
        assert freshness(instance, next_run + dt.timedelta(days=1, hours=3)) == FreshnessState.PASS


def test_the_weekly_job_not_automation_conditions_moves_the_weekly_assets():
    graph = defs.resolve_asset_graph()
    assert not [
        key for key in graph.materializable_asset_keys if graph.get(key).automation_condition
    ]
    assert weekly_segmentation_schedule.job_name == "weekly_segmentation"
    assert "not by automation conditions" in weekly_segmentation_schedule.description
    assert {s.name for s in defs.schedules} == {"weekly_segmentation_schedule"}


SELECTION = [
    "raw_transactions",
    "clean_transactions",
    "product_categories",
    "customer_interests",
    "rfm_table",
    "rfm_scores",
    "rfm_features",
    "pca_segmentation",
    "pca_sweep",
    "umap_segmentation",
    "umap_sweep",
    "tsne_segmentation",
    "tsne_sweep",
    "value_backtest",
    "customer_value",
    "segment_registry",
    "customer_segments",
    "segment_transitions",
    "segment_export",
]


ONE_CUTOFF = ["--cutoffs", "1"]
"""The weeks' own behaviour needs no more of the forecast's backtest than one quarter."""


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A twentieth of the bundled customers."""
    path = tmp_path_factory.mktemp("sample") / "twentieth.parquet"
    source = pd.read_parquet(BUNDLED_INPUT)
    source[source["CustomerID"] % 20 == 0].to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def backfill(tmp_path_factory, sample):
    """Three consecutive weeks of a twentieth of the bundled customers, in a Dagster instance of
    their own."""
    home = tmp_path_factory.mktemp("weeks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
        weeks_arg = f"{BACKFILL[0]}:{BACKFILL[-1]}"
        args = ["run", "--input", str(sample), "--warehouse", str(home / "warehouse")]
        code = main([*args, "--week", weeks_arg, "--select", ",".join(SELECTION), *ONE_CUTOFF])
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
        assert weekly(warehouse, "value_backtest", week)["cutoff"].nunique() == 1  # --cutoffs 1
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


def week_facts(warehouse, week: str) -> pd.DataFrame:
    """`naming.segment_facts` of a week's segments, as `customer_segments` made them."""
    value = weekly(warehouse, "customer_value", week)
    gap = naming.usual_gap(weekly(warehouse, "rfm_table", week), segments.horizon_days(value))
    return segments.facts_of(weekly(warehouse, "customer_segments", week), gap, value)


def test_kept_segments_keep_their_names_from_week_to_week_while_they_are_true(backfill):
    warehouse, _, _ = backfill
    for before, week in zip(BACKFILL, BACKFILL[1:], strict=False):
        names = {
            w: weekly(warehouse, "customer_segments", w)
            .groupby("segment_id")["segment_name"]
            .first()
            for w in (before, week)
        }
        shared = names[before].index.intersection(names[week].index)
        assert len(shared) >= 2
        renamed = [i for i in shared if names[before][i] != names[week][i]]
        if renamed:  # only where last week's name is no longer true of the segment
            facts = week_facts(warehouse, week)
            likely = naming.likely_p_active(names[week].to_dict(), facts)
            for i in renamed:
                assert not naming.admissible(names[before][i], facts.loc[i], likely), i
    # ids not reused: an id gone for a week does not come back under another name
    every = pd.concat(weekly(warehouse, "customer_segments", w).assign(week=w) for w in BACKFILL)
    for _, named in every.drop_duplicates(["segment_id", "week"]).groupby("segment_id"):
        steps = [BACKFILL.index(w) for w in named["week"]]
        changed = named["segment_name"].to_numpy()[1:] != named["segment_name"].to_numpy()[:-1]
        assert all(b - a == 1 for a, b, c in zip(steps[:-1], steps[1:], changed, strict=True) if c)


FORECAST = ["p_active", "expected_spend_90d", "clv_12m"]
"""The export's columns from customer_value, after the documented ones."""


def test_the_export_has_a_csv_and_parquet_per_week_with_the_documented_columns(backfill):
    warehouse, _, _ = backfill
    for week in BACKFILL:
        table = pd.read_csv(
            warehouse / "segment_export" / f"{week}.csv", dtype={"customer_id": str}
        )
        columns = {**EXPORT_COLUMNS, **dict.fromkeys(FORECAST, "float64")}
        assert table.columns.tolist() == list(columns)
        stored = weekly(warehouse, "segment_export", week)
        assert {c: str(t) for c, t in stored.dtypes.items()} == columns
        assert len(stored) == len(weekly(warehouse, "customer_segments", week))
    newest = (warehouse / "segment_export" / f"{BACKFILL[-1]}.csv").read_bytes()
    assert (warehouse / "segment_export.csv").read_bytes() == newest


def test_each_week_reads_the_week_before_through_a_declared_input():
    graph = defs.resolve_asset_graph()
    for asset, previous in [
        ("customer_segments", "segment_registry"),
        ("umap_segmentation", "umap_sweep"),
        ("segment_transitions", "customer_segments"),
    ]:
        key, parent = dg.AssetKey(asset), dg.AssetKey(previous)
        assert parent in graph.get(key).parent_keys
        mapping = graph.get_partition_mapping(key, parent)
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
        assert mapping.start_offset == -1
    report = graph.get(dg.AssetKey("segment_report")).parent_keys
    assert {
        dg.AssetKey(a)
        for a in (
            "eda_report",
            "product_categories",
            "customer_interests",
            "segment_classifier",
            "new_customer_evaluation",
        )
    } <= (report | {p for k in report for p in graph.get(k).parent_keys})


def stable_files(warehouse) -> dict[str, str]:
    """sha256 of every file at a stable path: tables, models, report, export, plots."""
    return {
        str(p.relative_to(warehouse)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(warehouse.rglob("*"))
        if p.is_file() and p.parent in (warehouse, warehouse / "plots")
    }


@pytest.fixture(scope="module")
def out_of_order(tmp_path_factory, sample):
    """The backfill's last week first, then its earlier weeks."""
    home = tmp_path_factory.mktemp("out_of_order")
    warehouse = home / "warehouse"
    weekly = ",".join(WEEKLY_ASSETS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home / "dagster_home"))
        args = ["run", "--warehouse", str(warehouse), *ONE_CUTOFF]
        assert main([*args, "--input", str(sample), "--week", BACKFILL[-1]]) == 0
        newest = stable_files(warehouse)
        # the weekly assets only, from the stored transactions
        assert main([*args, "--week", f"{BACKFILL[0]}:{BACKFILL[-2]}", "--select", weekly]) == 0
        after_older_weeks = stable_files(warehouse)
    return warehouse, newest, after_older_weeks


def test_older_weeks_leave_every_stable_file_as_the_newest_week_wrote_it(out_of_order):
    warehouse, newest, after_older_weeks = out_of_order
    assert {
        "segment_report.html",
        "segment_export.csv",
        "customer_segments.parquet",
        "segment_classifier.skops",
        "plots/umap_scatter.png",
        "plots/segment_transitions.png",
    } <= set(newest)
    assert after_older_weeks == newest
    for week in BACKFILL:  # every weekly plot is stored per week
        assert (warehouse / "plots" / "segment_profiles_radar" / f"{week}.png").exists()


def test_a_week_depends_only_on_its_inputs_whatever_the_order(out_of_order, backfill):
    """The week before the last, materialised after the last one, is what it is in order."""
    warehouse, _, _ = out_of_order
    in_order = backfill[0]
    week = BACKFILL[-2]
    for name in (
        "customer_segments",
        "segment_registry",
        "segment_transitions",
        "segment_export",
        "umap_sweep",
        "pca_sweep",
        "tsne_sweep",
    ):
        path = f"{name}/{week}.parquet"
        assert (warehouse / path).read_bytes() == (in_order / path).read_bytes(), name


def test_the_first_week_says_it_has_no_week_before(backfill):
    assert compared_with({}, weeks.start.date().isoformat()) == "none: the first week"
    assert compared_with({"2011-11-21": None}, "2011-11-28") == "2011-11-21"
    _, _, metadata = backfill
    assert metadata[BACKFILL[0]]["compared_with_week"] == (
        f"none: {(dt.date.fromisoformat(BACKFILL[0]) - dt.timedelta(weeks=1))} has not been"
        " materialised"
    )
    registry = weekly(backfill[0], "segment_registry", BACKFILL[-1])
    assert registry["segment_id"].is_unique
    assert set(registry["first_week"]) <= set(BACKFILL)
