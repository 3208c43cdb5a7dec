"""Scoring: the job that segments the customers of a new transactions file with the saved
classifier and forecast (`rfm-pipeline predict` runs it too)."""

import datetime as dt

import dagster as dg
from pydantic import Field
from upath import UPath

from rfm_pipeline.core.model_files import SavedModel
from rfm_pipeline.core.scoring import score_file
from rfm_pipeline.core.storage import write_export
from rfm_pipeline.core.value import ValueModel
from rfm_pipeline.defs.ingest import IngestConfig
from rfm_pipeline.defs.resources import Engine


class ScoreConfig(IngestConfig):
    """A transactions file to score, read like the pipeline's input, and where to write."""

    out: str = Field(
        description="File the scored customers are written to, .csv or .parquet. Required: only"
        " the caller knows where the scores should go.",
    )
    as_of: str | None = Field(
        default=None,
        description="Date (YYYY-MM-DD) the file's customers are scored at. None: the day after the"
        " file's last invoice, as the pipeline dates its own log.",
    )


@dg.op(
    ins={
        name: dg.In(asset_key=dg.AssetKey(name), input_manager_key="io_manager")
        for name in ("segment_classifier", "value_model")
    },
    out=dg.Out(dg.Nothing),
)
def score_transactions(
    context: dg.OpExecutionContext,
    config: ScoreConfig,
    engine: Engine,
    segment_classifier: SavedModel,
    value_model: ValueModel | None,
) -> None:
    """Segments for the customers in a transactions file, with the newest saved classifier, and
    the saved forecast's probability of buying and expected spend (where one was fitted)."""
    if value_model is None:
        context.log.warning("no saved forecast: materialise customer_value for p_active")
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else None
    scored = score_file(
        engine.connection(), config.path, segment_classifier, as_of, value_model, **config.reading()
    )
    write_export(scored, UPath(config.out))
    context.log.info(
        f"scored {scored['segment_id'].notna().sum()} of {len(scored)} customers into {config.out}"
    )


@dg.job(description="Segment the customers of a transactions file with the saved classifier.")
def score_new_customers() -> None:
    score_transactions()
