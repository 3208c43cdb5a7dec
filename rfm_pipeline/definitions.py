"""The one Definitions object: everything in the defs folder (assets, checks, jobs, schedules),
loaded as `dg` loads a project, with the resources every asset uses."""

from pathlib import Path

import dagster as dg

from rfm_pipeline.defs.io_managers import warehouse_io_manager
from rfm_pipeline.defs.loggers import progress
from rfm_pipeline.defs.resources import Engine, Warehouse


def project_resources() -> dg.Definitions:
    """The engine, the warehouse and the IO manager every asset uses; runs execute in process
    (no fresh interpreter per step) and log their steps for the command line too."""
    return dg.Definitions(
        resources={
            "engine": Engine(),
            "warehouse": Warehouse(),
            "io_manager": warehouse_io_manager,
        },
        executor=dg.in_process_executor,
        loggers={"console": dg.colored_console_logger, "progress": progress},
    )


defs = dg.Definitions.merge(
    dg.load_from_defs_folder(path_within_project=Path(__file__).parent), project_resources()
)
