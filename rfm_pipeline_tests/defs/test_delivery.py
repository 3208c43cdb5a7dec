"""segment_report and segment_export for one week."""

import dagster as dg

from rfm_pipeline.core.delivery import EXPORT_COLUMNS
from rfm_pipeline.definitions import defs
from rfm_pipeline_tests.defs.conftest import WEEK, resources


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


def test_the_export_goes_to_a_postgres_table_too(graph, postgres_url, postgres_schema):
    import psycopg

    table = f"{postgres_schema}.segments"
    config = {"ops": {"segment_export": {"config": {"database": postgres_url, "table": table}}}}
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            defs.assets,
            selection=["segment_export"],
            resources=resources(graph.warehouse),
            run_config=config,
            partition_key=WEEK,
            instance=instance,
        )
    assert result.success
    exported = graph.table("segment_export")
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(
            f"SELECT customer_id, segment_name, week::text FROM {table} ORDER BY customer_id"
        ).fetchall()
    expected = exported.sort_values("customer_id")[["customer_id", "segment_name"]]
    assert [r[:2] for r in rows] == list(expected.itertuples(index=False, name=None))
    assert {r[2] for r in rows} == {WEEK}
    metadata = result.asset_materializations_for_node("segment_export")[0].metadata
    assert metadata["database_table"].value == f"{postgres_url} table {table}"
