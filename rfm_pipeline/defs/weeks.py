"""Weeks: the partitions of the customer-level assets, the weekly job and its schedule, and the
freshness policy that makes a stalled schedule visible.

From `rfm_table` on, every customer-level asset is partitioned by week (weeks start on Monday;
a week's as-of date is the Monday that ends it). The transaction-level assets stay whole: they
hold the full history, every week's as-of date is a filter on it, and each run refreshes them.
"""

import datetime as dt
import os

import dagster as dg

from rfm_pipeline.core.weeks import week_ended_before
from rfm_pipeline.settings import first_week

FIRST_WEEK = first_week()
"""The first week (a Monday): the week of the shop's first transaction, as the warehouse's data
records it (`settings.first_week`)."""

WEEKLY_CRON = os.environ.get("RFM_PIPELINE_WEEKLY_CRON", "0 6 * * 1")
"""When the weekly refresh runs (UTC): Monday 06:00, for the week that ended at midnight."""

FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(days=8), warn_window=dt.timedelta(days=7, hours=6)
)
"""customer_segments' freshness policy: a warning when Monday's run is six hours late, a
failure a day after a missed one. Dagster's daemon (`make ui`) evaluates it by the time of the
newest materialisation, whichever week it was; the asset's page shows the state."""

weeks = dg.WeeklyPartitionsDefinition(start_date=FIRST_WEEK, day_offset=1, end_offset=1)
"""Weeks from FIRST_WEEK to the current one (still running), named by their Monday. They end
with the week under way rather than the newest week of the data: a running code location must
hold the week its schedule launches on Monday without being reloaded."""

WEEKLY_ASSETS = [
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
    "backtest_outcomes",
    "customer_value",
    "value_model",
    "segment_registry",
    "customer_segments",
    "segment_profiles",
    "segment_classifier",
    "new_customer_evaluation",
    "segment_transitions",
    "segment_export",
    "segment_report",
]
"""The partitioned assets, in lineage order."""


def week_of(context: dg.AssetExecutionContext) -> dt.date:
    """The Monday that starts the partition being materialised."""
    return dt.date.fromisoformat(context.partition_key)


EARLIER_WEEKS = "earlier_weeks"
"""Input metadata: load `{week: frame}` for the mapped weeks that have been materialised."""


def previous_week(asset: str) -> dg.AssetIn:
    """An input on the week before this one: how a week reads what last week decided, so the
    lineage shows it and a backfill runs the weeks in order. `{}` in the first week, or
    while the week before has not been materialised."""
    return _weeks(asset, start_offset=-1, end_offset=-1)


def this_and_previous_week(asset: str) -> dg.AssetIn:
    """An input on this week and the one before, as `{week: frame}`."""
    return _weeks(asset, start_offset=-1, end_offset=0)


def _weeks(asset: str, start_offset: int, end_offset: int) -> dg.AssetIn:
    mapping = dg.TimeWindowPartitionMapping(start_offset=start_offset, end_offset=end_offset)
    return dg.AssetIn(key=asset, partition_mapping=mapping, metadata={EARLIER_WEEKS: True})


def week_before(week: str) -> str:
    """The partition key of the week before `week`."""
    return (dt.date.fromisoformat(week) - dt.timedelta(weeks=1)).isoformat()


def compared_with(found: dict, week: str) -> str:
    """Metadata: which earlier week this one was compared with, or why none was."""
    before = week_before(week)
    if before in found:
        return before
    if before < FIRST_WEEK:
        return "none: the first week"
    return f"none: {before} has not been materialised"


everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all(),
    description="Materialise every asset: the customer-level ones for one week.",
)

weekly_segmentation = dg.define_asset_job(
    "weekly_segmentation",
    selection=dg.AssetSelection.assets(*WEEKLY_ASSETS).upstream(),
    description="One week's segments: refresh the transactions, then every customer-level asset"
    " as of the Monday that ends the week.",
)


@dg.schedule(
    job=weekly_segmentation,
    cron_schedule=WEEKLY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The weekly refresh: at each tick (Monday 06:00 UTC unless"
    " RFM_PIPELINE_WEEKLY_CRON says otherwise) one run of weekly_segmentation for the week that"
    " ended before it, the transactions first, then every customer-level asset in order. The"
    " downstream assets follow by this job, not by automation conditions.",
)
def weekly_segmentation_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The week that ended before the tick (Monday 06:00: the week that ended at midnight)."""
    week = week_ended_before(context.scheduled_execution_time).isoformat()
    return dg.RunRequest(run_key=week, partition_key=week)
