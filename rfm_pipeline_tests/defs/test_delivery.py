"""segment_report and segment_export for one week."""

from rfm_pipeline.core.delivery import EXPORT_COLUMNS
from rfm_pipeline_tests.defs.conftest import WEEK


def test_the_report_is_this_weeks_with_its_plots(graph):
    html = (graph.warehouse / "segment_report" / f"{WEEK}.html").read_text()
    assert f"for the week of {WEEK}" in html
    assert html.index("At a glance") < html.index("Cleaning")  # the marketing summary first
    assert "The forecast behind the expected revenue" in html
    assert html.count('src="data:image/png;base64,') == graph.metadata("segment_report")["images"]
    assert (graph.warehouse / "segment_report.html").read_text() == html


def test_the_export_has_one_row_per_customer_in_both_formats(graph):
    table = graph.table("segment_export")
    assert list(table.columns) == [*EXPORT_COLUMNS, "p_active", "expected_spend_90d", "clv_12m"]
    assert len(table) == len(graph.table("customer_segments"))
    value = graph.table("customer_value").set_index("customer_id")
    exported = table.set_index("customer_id")
    assert exported["p_active"].to_dict() == value["p_active"].to_dict()
    assert (graph.warehouse / "segment_export" / f"{WEEK}.csv").exists()
