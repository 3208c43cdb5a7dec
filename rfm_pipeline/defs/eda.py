"""Group eda: the study's exploratory questions, answered from the data, with plots."""

import dagster as dg
import ibis.expr.types as ir
import pandas as pd

from rfm_pipeline.core.delivery import REPORTED_TRENDS
from rfm_pipeline.core.eda import PLOTS, eda_figures, explore
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Warehouse


@dg.asset(group_name="eda", kinds={"engine"}, code_version="2")
def eda_report(
    warehouse: Warehouse,
    raw_transactions: ir.Table,
    clean_transactions: ir.Table,
    cleaning_summary: dict,
) -> dg.Output[pd.DataFrame]:
    """The study's first look and exploratory analysis as question and answer: size, period,
    missing values, cancellations, countries, months, weekdays, hours, order values, top
    products; plus hypotheses drawn from the figures. Every answer is computed; a question
    the input's columns do not allow is answered "cannot answer: " and why (no country
    column, no invoice numbers, no stock codes, dates without a time of day).
    """
    prefix = cleaning_summary["rules"]["cancellation_prefix"]
    found = explore(raw_transactions, clean_transactions, prefix)
    t = found.tables
    plots = eda_figures(t)
    for name in [p for p in PLOTS if p not in plots]:  # not drawn: no earlier input's stays
        warehouse.withdraw(f"plots/eda_{name}", ".png")
    found.answers.attrs |= plain(  # for the report, with the answers
        {
            "hypotheses": found.hypotheses,
            "tables": {n: t[n].to_dict("records") for n in REPORTED_TRENDS if n in t},
        }
    )
    gaps = "\n".join(f"- {topic}: {why}" for topic, why in found.unanswered.items())
    return dg.Output(
        found.answers,
        metadata=plain(
            {
                "dagster/row_count": len(found.answers),
                "answers": table_metadata(found.answers),
                "not_answered": dg.MetadataValue.md(gaps or "none"),
                "hypotheses": dg.MetadataValue.md("\n".join(f"- {h}" for h in found.hypotheses)),
                **{
                    n: table_metadata(t[n].round(2))
                    for n in ("top_products", "countries")
                    if n in t
                },
                **{
                    name: image_metadata(plot, warehouse, f"eda_{name}")
                    for name, plot in plots.items()
                },
            }
        ),
    )
