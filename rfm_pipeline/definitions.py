"""The one Definitions object: every asset in defs/, the resources, the jobs, the schedules."""

import os

import dagster as dg

from rfm_pipeline import defs as defs_package
from rfm_pipeline.defs.io_managers import WarehouseIOManager
from rfm_pipeline.defs.loggers import progress
from rfm_pipeline.defs.models import score_new_customers
from rfm_pipeline.defs.resources import DuckDBEngine, Warehouse
from rfm_pipeline.defs.weeks import (
    check_freshness,
    customer_segments_fresh,
    freshness_schedule,
    weekly_segmentation,
    weekly_segmentation_schedule,
)

engine = DuckDBEngine(threads=int(os.environ.get("RFM_PIPELINE_THREADS", "0")) or None)
warehouse = Warehouse()

everything = dg.define_asset_job(
    "everything",
    selection=dg.AssetSelection.all() - dg.AssetSelection.checks(customer_segments_fresh),
    description="Materialise every asset: the customer-level ones for one week.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(defs_package),
    asset_checks=[customer_segments_fresh],
    jobs=[everything, weekly_segmentation, check_freshness, score_new_customers],
    schedules=[weekly_segmentation_schedule, freshness_schedule],
    resources={
        "engine": engine,
        "warehouse": warehouse,
        "io_manager": WarehouseIOManager(warehouse=warehouse, engine=engine),
    },
    executor=dg.in_process_executor,
    loggers={"console": dg.colored_console_logger, "progress": progress},
)
