"""Group value: what each customer is worth next quarter, and the backtest that chose the model."""

import dataclasses
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from pydantic import Field

from rfm_pipeline.core import value
from rfm_pipeline.core.cleaning import CleaningRules, lines_before
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.plots import calibration_plot
from rfm_pipeline.core.rfm import as_of_date
from rfm_pipeline.defs.io_managers import carried
from rfm_pipeline.defs.metadata import image_metadata, plain, skipped, table_metadata
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import weeks


class ValueConfig(dg.Config):
    """The forecast's settings (customer_value uses the ones backtested here) and the cut-offs."""

    horizon_days: int = Field(
        default=90,
        description="Days ahead the forecast covers: the probability of buying and the expected"
        " spend are for this window. 90, a quarter, the period marketing plans for.",
    )
    clv_months: int = Field(
        default=12,
        description="Months of future spend in the lifetime value (clv_12m). 12: a year, the usual"
        " lifetime-value horizon.",
    )
    annual_discount_rate: float = Field(
        default=0.10,
        description="Yearly rate (share, 0.10 = 10%) that discounts future spend in the lifetime"
        " value. 10%, a common cost of money for a small shop.",
    )
    step_days: int = Field(
        default=14,
        description="Days between the learned layer's training windows (dates at which a"
        " customer's history and the horizon after it are taken). 14: every two weeks, so"
        " consecutive windows differ.",
    )
    min_history_days: int = Field(
        default=30,
        description="Days of history a training window needs after the log's first day. 30: a"
        " month, so every window has some history to learn from.",
    )
    max_training_rows: int = Field(
        default=200_000,
        description="Most customer-windows the learned layer trains on, drawn at random evenly"
        " across the windows above it. 200,000: above the bundled data's count, and bounded memory"
        " on a large shop.",
    )
    random_state: int = Field(
        default=0,
        description="Seed of the window sampling and the learned layer, fixed so the same input"
        " gives the same forecast.",
    )
    cutoffs: list[str] | None = Field(
        default=None,
        description="Backtest cut-off dates (YYYY-MM-DD): forecasts are fitted before each and"
        " scored on the horizon after it. None: the first days of cutoff_count months, the last"
        " being the last whose horizon ends by the as-of date.",
    )
    cutoff_count: int = Field(
        default=4,
        description="Number of monthly cut-offs when cutoffs is not set. 4: 2011-06-01 to"
        " 2011-09-01 on the bundled data, so no choice rests on a single month.",
    )

    def settings(self) -> value.ValueSettings:
        return value.ValueSettings(**self.model_dump(exclude={"cutoffs", "cutoff_count"}))


@dg.multi_asset(
    outs={
        "value_backtest": dg.AssetOut(kinds={"pymc", "sklearn"}, code_version="3"),
        "backtest_outcomes": dg.AssetOut(
            kinds={"pandas"},
            code_version="1",
            description="Per cut-off of the backtest and customer: R, F and M at the cut-off"
            " and the spend in the horizon after it (`future_spend`), which the choice of a"
            " segmentation scores each grouping against, without fitting anything again.",
        ),
    },
    group_name="value",
    partitions_def=weeks,
)
def value_backtest(
    context: dg.AssetExecutionContext,
    config: ValueConfig,
    warehouse: Warehouse,
    raw_transactions: ir.Table,
    clean_transactions: ir.Table,
    rfm_table: pd.DataFrame,
    cleaning_summary: dict,
) -> Iterator[dg.Output]:
    """Per cut-off and forecast: AUC for buying in the horizon, R² and mean absolute error of
    the spend, predicted and actual total; and the forecast's value tiers, scored as a
    segmentation. Each forecast is fitted on the lines before the cut-off (cleaned on their
    own). It needs no segmentation, so it runs beside the spaces; what happened after each
    cut-off is kept in `backtest_outcomes` for scoring them.
    """
    as_of = as_of_date(rfm_table)
    settings = config.settings()
    cutoffs = [dt.date.fromisoformat(c) for c in config.cutoffs or []] or value.default_cutoffs(
        as_of, settings.horizon_days, config.cutoff_count
    )
    known = lines_before(clean_transactions, as_of)
    rules = CleaningRules(**cleaning_summary["rules"])
    metadata = {"settings": dg.MetadataValue.json(dataclasses.asdict(settings))}
    try:
        result = value.backtest(raw_transactions, known, cutoffs, rules, settings)
    except NotEnoughData as reason:
        metadata |= skipped(reason)
        scores = pd.DataFrame(columns=["cutoff", "model"])
        outcomes = pd.DataFrame(columns=value.OUTCOME_COLUMNS)
    else:
        metadata |= _backtest_metadata(result, settings, warehouse, context.partition_key)
        scores, outcomes = result.scores, result.outcomes
    scores.attrs["settings"] = dataclasses.asdict(settings)  # what customer_value fits with
    yield dg.Output(scores, output_name="value_backtest", metadata=plain(metadata))
    yield dg.Output(
        outcomes,
        output_name="backtest_outcomes",
        metadata=plain({"dagster/row_count": len(outcomes)}),
    )


def _backtest_metadata(
    result: value.Backtest, settings: value.ValueSettings, warehouse: Warehouse, week: str
) -> dict:
    """The cut-offs scored and skipped, the figures, and the calibration at the last cut-off."""
    last_cutoff = result.scores["cutoff"].max()
    last = result.calibration[result.calibration["cutoff"] == last_cutoff]
    title = f"Spend in the {settings.horizon_days} days after {last_cutoff}"
    return {
        "cutoffs": sorted(result.scores["cutoff"].unique()),
        "skipped_cutoffs": result.skipped,
        "summary": table_metadata(value.summary(result).round(4)),
        "learned_layer_weights": table_metadata(result.weights.round(4)),
        "scores": table_metadata(result.scores.round(4)),
        "calibration_plot": image_metadata(
            calibration_plot(last, title), warehouse, "value_calibration", week
        ),
        "dagster/row_count": len(result.scores),
    }


@dg.multi_asset(
    outs={
        "customer_value": dg.AssetOut(kinds={"pymc", "sklearn"}, code_version="3"),
        "value_model": dg.AssetOut(
            kinds={"pymc", "sklearn"},
            code_version="3",
            description="The fitted forecast `rfm-pipeline predict` scores new customers"
            " with: BG/NBD and Gamma-Gamma (pymc-marketing's files), the learned layer (skops)"
            " and its card (`value_model/<week>.forecast/`, the newest at"
            " `value_model.forecast/`); none where the shop's history is too short to fit.",
        ),
    },
    group_name="value",
    partitions_def=weeks,
)
def customer_value(
    clean_transactions: ir.Table, rfm_table: pd.DataFrame, value_backtest: pd.DataFrame
) -> Iterator[dg.Output]:
    """Per customer at the week's as-of date: the probability of buying within the horizon
    (`p_active`), expected purchase days and spend in it, the discounted value over the next
    months (`clv_12m` by default) and BG/NBD's probability of being alive (empty where that
    is degenerate: `value.alive_verdict`). The learned layer weighs what `value_backtest`
    chose.
    """
    as_of = as_of_date(rfm_table)
    settings = value.ValueSettings(**carried(value_backtest, "settings", "value_backtest"))
    days = value.purchase_days(clean_transactions)
    known = value.history(days, as_of)
    weights = value.chosen_weights(value_backtest)
    try:
        model = value.fit_value(days, as_of, settings, known, weights)
    except NotEnoughData as reason:
        empty = value.unforecast(known, settings)
        note = {"note": f"no forecast: {reason}", "dagster/row_count": len(empty)}
        yield dg.Output(empty, output_name="customer_value", metadata=plain(note))
        yield dg.Output(None, output_name="value_model", metadata=plain(skipped(reason)))
        return
    table = model.predict(known).assign(as_of=as_of)
    alive = value.alive_verdict(model.probabilistic.parameters, value_backtest)
    if alive:
        table["p_alive_bgnbd"] = float("nan")
    model.card = card = value.model_card(model, value_backtest, alive)
    reported = ("model", "choice", "p_alive_bgnbd", "backtest")
    table.attrs["forecast"] = plain({k: card[k] for k in reported})  # for the report
    spend = f"expected_spend_{settings.horizon_days}d"
    metadata = {
        "dagster/row_count": len(table),
        "expected_buyers": round(float(table["p_active"].sum()), 1),
        f"{spend}_total": round(float(table[spend].sum()), 2),
    }
    yield dg.Output(table, output_name="customer_value", metadata=plain(metadata))
    model_metadata = {
        "model": model.name,
        "choice": dg.MetadataValue.json(card["choice"]),
        "p_alive_bgnbd": card["p_alive_bgnbd"],
        "parameters": dg.MetadataValue.json(card["parameters"]),
        "fitted_customers": model.customers,
        "training_windows": len(model.windows),
        "training_rows": model.training_rows,
        "backtest": table_metadata(pd.DataFrame(card["backtest"]).round(4)),
    }
    yield dg.Output(model, output_name="value_model", metadata=plain(model_metadata))
