"""Group rfm: recency, frequency and monetary value per customer; scores; clustering features."""

import datetime as dt

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import rfm
from rfm_pipeline.core.plots import bar_chart
from rfm_pipeline.core.weeks import week_as_of
from rfm_pipeline.defs.metadata import image_metadata, plain, table_metadata
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.defs.weeks import week_of, weeks


class RfmConfig(dg.Config):
    """The as-of date: only transactions before it count; recency is measured up to it."""

    as_of: str | None = Field(
        default=None,
        description="Date (YYYY-MM-DD) of the RFM table: only earlier transactions count, and"
        " recency runs up to it. None: the Monday that ends the week, or the day after the last"
        " invoice if the data ends sooner (2011-12-10, the study's date).",
    )


@dg.asset(group_name="rfm", kinds={"engine"}, code_version="6", partitions_def=weeks)
def rfm_table(
    context: dg.AssetExecutionContext,
    config: RfmConfig,
    engine: Engine,
    clean_transactions: ir.Table,
) -> dg.Output[ir.Table]:
    """One row per customer: recency (days since the last invoice), frequency (invoices),
    monetary (spend), first and last purchase, tenure_days and avg_order_value, at the as-of date:
    the Monday that ends the week, or the day after the last invoice if the data ends sooner.
    """
    if config.as_of:
        as_of = dt.date.fromisoformat(config.as_of)
    else:
        as_of = min(week_as_of(week_of(context)), rfm.default_as_of(clean_transactions))
    table = rfm.rfm_table(clean_transactions, as_of)
    stats = table.aggregate(
        customers=table.count(),
        recency_mean=table.recency.mean(),
        recency_median=table.recency.median(),
        recency_over_200_days=(table.recency > 200).sum(),
        frequency_mean=table.frequency.mean(),
        monetary_mean=table.monetary.mean(),
    ).execute()
    row = stats.iloc[0]
    return dg.Output(
        table,
        metadata=plain(
            {
                "as_of": as_of.isoformat(),
                **engine.metadata(),
                "dagster/row_count": int(row["customers"]),
                "recency_mean_days": round(float(row["recency_mean"]), 2),
                "recency_median_days": float(row["recency_median"]),
                "customers_recency_over_200_days": int(row["recency_over_200_days"]),
                "frequency_mean_invoices": round(float(row["frequency_mean"]), 2),
                "monetary_mean": round(float(row["monetary_mean"]), 2),
            }
        ),
    )


class RfmScoresConfig(dg.Config):
    """Score edges (4 increasing numbers each); None = this run's quintiles."""

    recency_edges: list[float] | None = Field(
        default=None,
        description="Four increasing recency values (days) where the R score changes; fewer days"
        " score higher. None: this run's quintiles; fix them so next week's scores mean the same.",
    )
    frequency_edges: list[float] | None = Field(
        default=None,
        description="Four increasing frequency values (invoices) where the F score changes. None:"
        " this run's quintiles; fix them so next week's scores mean the same.",
    )
    monetary_edges: list[float] | None = Field(
        default=None,
        description="Four increasing monetary values (spend, in the log's currency) where the M"
        " score changes. None: this run's quintiles; fix them so next week's scores mean the same.",
    )


@dg.asset(group_name="rfm", kinds={"pandas"}, code_version="1", partitions_def=weeks)
def rfm_scores(
    context: dg.AssetExecutionContext,
    config: RfmScoresConfig,
    warehouse: Warehouse,
    rfm_table: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """R, F and M scores 1-5 per customer and the rule-based segment marketers know
    (Champions ... Lost, 11 names covering all 125 combinations), each with its action.
    """
    edges = {
        "recency": config.recency_edges,
        "frequency": config.frequency_edges,
        "monetary": config.monetary_edges,
    }
    scores, used = rfm.rfm_scores(rfm_table, edges)
    summary = rfm.segment_summary(scores, rfm_table)
    chart = bar_chart(
        summary["segment"].tolist(), summary["customers"].tolist(), "RFM segments", "customers"
    )
    return dg.Output(
        scores,
        metadata=plain(
            {
                "dagster/row_count": len(scores),
                "segments": table_metadata(summary),
                "edges": dg.MetadataValue.json(used),
                "segment_sizes": image_metadata(
                    chart, warehouse, "rfm_scores_segments", context.partition_key
                ),
            }
        ),
    )


class FeaturesConfig(dg.Config):
    """The study's preparation: hold out customers above a percentile; optional log transform."""

    outlier_quantile: float = Field(
        default=0.95,
        description="Quantile (0-1) of frequency and of monetary above which a customer is an"
        " outlier: held out of fitting, still segmented. 0.95, the study's 95th percentile.",
    )
    log_transform: bool = Field(
        default=False,
        description="Pass recency, frequency and monetary through sign(x)·log(1+|x|) before"
        " scaling, to shorten their long tails. Off, as in the study.",
    )


@dg.asset(group_name="rfm", kinds={"pandas", "sklearn"}, code_version="1", partitions_def=weeks)
def rfm_features(config: FeaturesConfig, rfm_table: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Recency, frequency, monetary and their standardised values for every customer, with
    `is_outlier` for those above the percentile thresholds: held out of fitting, never dropped.
    """
    settings = {"outlier_quantile": config.outlier_quantile, "log_transform": config.log_transform}
    features = rfm.rfm_features(rfm_table, **settings)
    features.table.attrs["settings"] = settings  # what refits before a cut-off prepare with
    outliers = int(features.table["is_outlier"].sum())
    return dg.Output(
        features.table,
        metadata=plain(
            {
                "dagster/row_count": len(features.table),
                "settings": dg.MetadataValue.json(settings),
                "customers_fitted": len(features.table) - outliers,
                "outliers": outliers,
                "frequency_threshold": round(features.thresholds["frequency"], 2),
                "monetary_threshold": round(features.thresholds["monetary"], 2),
                "scaler": dg.MetadataValue.json(
                    {
                        "columns": list(rfm.RFM_COLUMNS),
                        "mean": features.scaler.mean_.tolist(),
                        "scale": features.scaler.scale_.tolist(),
                    }
                ),
            }
        ),
    )
