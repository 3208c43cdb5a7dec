"""The warehouse resource: where outputs go, and a failed or killed run put back."""

import os

import dagster as dg
from upath import UPath

from rfm_pipeline.core.storage import Journal, write_bytes
from rfm_pipeline.defs.resources import Warehouse


def test_a_weekly_output_reaches_the_stable_path_only_while_it_is_the_newest(tmp_path):
    warehouse = Warehouse(base_path=str(tmp_path))

    def publish(week: str, text: str) -> None:
        warehouse.publish("report", ".html", week, lambda p: write_bytes(text.encode(), p))

    publish("2011-11-28", "newest")
    publish("2011-11-21", "older")
    assert (tmp_path / "report.html").read_text() == "newest"
    assert (tmp_path / "report" / "2011-11-21.html").read_text() == "older"
    publish("2011-12-05", "newer")
    assert (tmp_path / "report.html").read_text() == "newer"
    assert warehouse.file("report", ".html") == UPath(tmp_path / "report.html")


def test_a_withdrawn_output_is_gone_and_a_failed_run_puts_it_back(tmp_path):
    warehouse = Warehouse(base_path=str(tmp_path))
    warehouse._journal = Journal(UPath(tmp_path), "run-1")
    plot = tmp_path / "plots" / "eda_orders_by_hour.png"
    plot.parent.mkdir()
    plot.write_bytes(b"an earlier input's plot")
    warehouse.withdraw("plots/eda_orders_by_hour", ".png")
    warehouse.withdraw("plots/eda_revenue_by_country", ".png")  # none there: nothing to do
    assert not plot.exists()
    assert warehouse._journal.restore() == 1
    assert plot.read_bytes() == b"an earlier input's plot"


@dg.asset
def first_step() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


@dg.asset(deps=[first_step])
def second_step() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"pid": os.getpid()})


def two_steps() -> dg.JobDefinition:
    """Two steps that note the process they ran in, under the project's executor."""
    from rfm_pipeline.definitions import defs as project

    definitions = dg.Definitions(
        assets=[first_step, second_step],
        jobs=[dg.define_asset_job("two_steps", selection=[first_step, second_step])],
        executor=project.executor,
    )
    return definitions.resolve_job_def("two_steps")


def test_a_run_executes_every_step_in_its_own_process(tmp_path):
    """The project's executor runs every step in the run's process, no fresh interpreter per
    step (one DuckDB connection, models compiled once). `execute_job` honours the executor;
    `execute_in_process` would run in process whatever it is."""
    job = dg.reconstructable(two_steps)
    with (
        dg.instance_for_test(temp_dir=str(tmp_path)) as instance,
        dg.execute_job(job, instance) as result,
    ):
        assert result.success
        steps = ("first_step", "second_step")
        pids = [result.asset_materializations_for_node(s)[0].metadata["pid"].value for s in steps]
    assert pids == [os.getpid(), os.getpid()]
