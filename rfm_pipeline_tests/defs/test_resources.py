"""The warehouse resource: where outputs go, and a failed or killed run put back."""

from upath import UPath

from rfm_pipeline.core.storage import Journal, write_bytes
from rfm_pipeline.defs.resources import Warehouse, defs


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


def test_the_project_resources_run_in_process():
    assert set(defs.resources) == {"engine", "warehouse", "io_manager"}
    assert defs.executor is not None and defs.executor.name == "in_process"
    assert set(defs.loggers) == {"console", "progress"}
