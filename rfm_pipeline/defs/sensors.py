"""What happens after a run: a failed run's outputs are put back, a good run's copies dropped."""

import dagster as dg

from rfm_pipeline.core.storage import Journal
from rfm_pipeline.defs.resources import Warehouse


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING)
def restore_after_failure(context: dg.RunFailureSensorContext, warehouse: Warehouse) -> None:
    """Put back every output the failed run replaced, and remove what it created."""
    restored = Journal(warehouse.path(), context.dagster_run.run_id).restore()
    context.log.info(f"run {context.dagster_run.run_id}: {restored} outputs put back")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, default_status=dg.DefaultSensorStatus.RUNNING
)
def forget_after_success(context: dg.RunStatusSensorContext, warehouse: Warehouse) -> None:
    """Drop the copies a successful run kept of the outputs it replaced."""
    Journal(warehouse.path(), context.dagster_run.run_id).forget()
