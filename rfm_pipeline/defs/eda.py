"""Group eda: the study's exploratory questions, answered from the data, with plots."""

import dagster as dg
import ibis.expr.types as ir
import pandas as pd

from rfm_pipeline.core.eda import explore
from rfm_pipeline.core.plots import bar_chart, column_chart, histogram
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata, upstream_metadata
from rfm_pipeline.defs.resources import Warehouse


@dg.asset(group_name="eda", kinds={"duckdb"}, code_version="1")
def eda_report(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    raw_transactions: ir.Table,
    clean_transactions: ir.Table,
) -> dg.Output[pd.DataFrame]:
    """The study's first look and exploratory analysis as question and answer: size, period,
    missing values, cancellations, countries, months, weekdays, hours, order values, top
    products; plus hypotheses drawn from the figures. Every answer is computed.
    """
    rules = upstream_metadata(context, "clean_transactions")["rules"]
    found = explore(raw_transactions, clean_transactions, rules["cancellation_prefix"])
    t = found.tables
    months = t["revenue_by_month"]
    countries = t["countries"].head(10)
    plots = {
        "revenue_by_month": column_chart(
            [f"{m:%Y-%m}" for m in months["month"]], months["revenue"].tolist(),
            "Revenue by month", "revenue",
        ),
        "orders_by_weekday": column_chart(
            t["orders_by_weekday"]["weekday"].str[:3].tolist(),
            t["orders_by_weekday"]["orders"].tolist(), "Orders by weekday", "orders",
        ),
        "orders_by_hour": column_chart(
            [str(h) for h in t["orders_by_hour"]["hour"]], t["orders_by_hour"]["orders"].tolist(),
            "Orders by hour of day", "orders",
        ),
        "revenue_by_country": bar_chart(
            countries["country"].tolist(), countries["revenue"].tolist(),
            "Revenue by country (top 10)", "revenue",
        ),
        "order_values": histogram(t["order_values"]["value"], "Order values", "order value"),
    }  # fmt: skip
    return dg.Output(
        found.answers,
        metadata=plain(
            {
                "dagster/row_count": len(found.answers),
                "answers": table_metadata(found.answers),
                "hypotheses": dg.MetadataValue.md("\n".join(f"- {h}" for h in found.hypotheses)),
                "top_products": table_metadata(t["top_products"].round(2)),
                "countries": table_metadata(t["countries"].round(2)),
                **{
                    name: image_metadata(plot, warehouse, f"eda_{name}")
                    for name, plot in plots.items()
                },
            }
        ),
    )
