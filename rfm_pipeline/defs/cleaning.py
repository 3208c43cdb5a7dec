"""Group cleaning: the study's cleaning rules and the funnel they produce."""

from collections.abc import Iterator
from dataclasses import asdict

import dagster as dg
import ibis.expr.types as ir
from pydantic import Field

from rfm_pipeline.core import cleaning
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.defs.metadata import plain, table_metadata
from rfm_pipeline.defs.resources import Engine


class CleaningConfig(dg.Config):
    """The study's rules; change them only knowingly, the figures depend on them."""

    non_product_pattern: str = Field(
        default=r"^[A-Za-z]+",
        description="Regular expression matching stock codes that are not products (postage POST,"
        " manual M, DOT); their lines are dropped. Codes that start with letters: the study's"
        " rule.",
    )
    cancellation_prefix: str = Field(
        default="C",
        description="How the invoice numbers of cancellations start; those lines are taken out of"
        " the purchases. C, as in the UCI data.",
    )
    match_cancellations: bool = Field(
        default=True,
        description="True: match each cancellation to the purchase it cancels, which records"
        " quantity_canceled; false: just drop cancellations. True, the study's rule.",
    )


@dg.multi_asset(
    outs={
        "clean_transactions": dg.AssetOut(kinds={"engine"}, code_version="3"),
        "cleaning_summary": dg.AssetOut(
            kinds={"json"},
            code_version="2",
            description="The rules the lines were cleaned with (`rules`: every refit before a"
            " cut-off cleans with them), the funnel (`funnel`: rows removed per step) and how"
            " the cancellations were matched (`cancellations`).",
        ),
    },
    group_name="cleaning",
    check_specs=[
        dg.AssetCheckSpec(name, asset="clean_transactions", blocking=blocking, description=text)
        for name, (blocking, text) in cleaning.CHECKS.items()
    ],
)
def clean_transactions(
    config: CleaningConfig, engine: Engine, raw_transactions: ir.Table, raw_summary: dict
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Purchase lines fit for analysis, each with its `line_no`, `quantity_canceled` and
    `total_price`, in no set order (`line_no` is the file order).

    Drops lines without a customer, exact duplicates, cancellations (first matched to the
    purchase they cancel), non-product stock codes and non-positive prices, in that order;
    `total_price = unit_price * (quantity - quantity_canceled)`.
    """
    rules = cleaning.CleaningRules(**config.model_dump())
    result = cleaning.clean_transactions(raw_transactions, rules)
    empty = cleaning.nothing_left(result.funnel)
    if empty:
        raise InputError(raw_summary["source"], empty)
    outcomes = cleaning.check_clean(result.table, result.funnel, rules)
    yield from (_check_result(outcome) for outcome in outcomes)
    failed = [o.name for o in outcomes if o.blocking and not o.passed]
    if failed:
        raise dg.Failure(
            f"clean_transactions not written: blocking checks failed: {', '.join(failed)}"
        )
    yield dg.Output(
        result.table,
        output_name="clean_transactions",
        metadata=plain(
            {
                **engine.metadata(),
                "dagster/row_count": int(result.funnel["rows_after"].iloc[-1]),
                "funnel": table_metadata(result.funnel),
                **{f"cancellations_{k}": v for k, v in result.matching.items()},
            }
        ),
    )
    summary = {
        "rules": asdict(rules),
        "funnel": result.funnel.to_dict("records"),
        "cancellations": result.matching,
    }
    yield dg.Output(plain(summary), output_name="cleaning_summary")


def _check_result(outcome: cleaning.CheckOutcome) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if outcome.blocking else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=outcome.name,
        passed=outcome.passed,
        severity=severity,
        metadata=plain({"offending_rows": outcome.offending_rows}),
    )
