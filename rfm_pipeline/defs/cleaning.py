"""Group cleaning: the study's cleaning rules and the funnel they produce."""

from collections.abc import Iterator
from dataclasses import asdict

import dagster as dg
import ibis.expr.types as ir

from rfm_pipeline.core import cleaning
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.defs.metadata import plain, table_metadata, upstream_metadata


class CleaningConfig(dg.Config):
    """The study's rules; change them only knowingly, the figures depend on them."""

    non_product_pattern: str = r"^[A-Za-z]+"  # stock codes that are not products (POST, M, DOT)
    cancellation_prefix: str = "C"  # invoice numbers of cancellations start with this
    match_cancellations: bool = True  # record quantity_canceled on the purchase, or just drop


@dg.asset(
    group_name="cleaning",
    kinds={"duckdb"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(name, asset="clean_transactions", blocking=blocking, description=text)
        for name, (blocking, text) in cleaning.CHECKS.items()
    ],
)
def clean_transactions(
    context: dg.AssetExecutionContext, config: CleaningConfig, raw_transactions: ir.Table
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Purchase lines fit for analysis, with `quantity_canceled` and `total_price`.

    Drops lines without a customer, exact duplicates, cancellations (first matched to the
    purchase they cancel), non-product stock codes and non-positive prices, in that order;
    `total_price = unit_price * (quantity - quantity_canceled)`. The funnel is in metadata.
    """
    rules = cleaning.CleaningRules(**config.model_dump())
    result = cleaning.clean_transactions(raw_transactions, rules)
    empty = cleaning.nothing_left(result.funnel)
    if empty:
        source = upstream_metadata(context, "raw_transactions").get("source", "the input")
        raise InputError(source, empty)
    outcomes = cleaning.check_clean(result.table, result.funnel, rules)
    yield from (_check_result(outcome) for outcome in outcomes)
    failed = [o.name for o in outcomes if o.blocking and not o.passed]
    if failed:
        raise dg.Failure(
            f"clean_transactions not written: blocking checks failed: {', '.join(failed)}"
        )
    yield dg.Output(
        result.table,
        metadata=plain(
            {
                "dagster/row_count": int(result.funnel["rows_after"].iloc[-1]),
                "funnel": table_metadata(result.funnel),
                "rules": dg.MetadataValue.json(asdict(rules)),  # what every refit cleans with
                **{f"cancellations_{k}": v for k, v in result.matching.items()},
            }
        ),
    )


def _check_result(outcome: cleaning.CheckOutcome) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=severity,
        metadata=plain({"offending_rows": outcome.offending_rows}),
    )
