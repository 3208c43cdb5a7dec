"""The study's cleaning rules as set operations on the engine, with the funnel they produce.

Each raw line gets the first rule that drops it (`dropped_by`), so the funnel is one
group-by and the clean table is the lines no rule dropped. Cancellations are matched to the
purchase they cancel with a join, reproducing the study's row loop without one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from rfm_pipeline.core import engine

SOURCE_COLUMNS = (
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)

STEPS = (
    "missing customer",
    "missing or unusable value",
    "exact duplicate",
    "cancellation",
    "non-product stock code",
    "non-positive unit price",
)
"""The rules in the order they apply; each funnel row is named `drop <step>`. An unusable
value is a blank invoice number, date, quantity or price, a quantity of zero or a price that is
not a finite number (`nan`, `inf`): such a line says nothing about a purchase."""


@dataclass(frozen=True)
class CleaningRules:
    """The knobs of the study's cleaning; the defaults reproduce it."""

    non_product_pattern: str = r"^[A-Za-z]+"
    cancellation_prefix: str = "C"
    match_cancellations: bool = True
    discount_description: str = "Discount"


@dataclass(frozen=True)
class CleaningResult:
    """The clean lines, the funnel (rows after each step) and what cancellation matching did."""

    table: ir.Table
    funnel: pd.DataFrame
    matching: dict[str, int]


def repeated_lines(raw: ir.Table) -> ir.Table:
    """`line_no` of every line that repeats an earlier line (in file order) on all eight source
    columns, NULLs counting as equal; only lines the customer and value steps keep, since a
    repeat has the same values, so those steps drop it along with its original.

    Ranking every line within its eight columns (a window sorted on them) is what made this
    step slow at scale. Repeats share their invoice, stock code and quantity, so a hash
    aggregate on those three first finds the few lines that share them with another, and only
    those are ranked on all eight.
    """
    usable = _usable(raw)
    # a missing stock code becomes '' so that such lines still meet in the join below
    key = {"invoice": raw.invoice_no, "stock": raw.stock_code.fill_null(""), "n": raw.quantity}
    shared = raw.filter(usable).group_by(**key).aggregate(lines=ibis._.count())
    shared = shared.filter(shared.lines > 1)
    suspects = raw.semi_join(shared, [value == shared[name] for name, value in key.items()])
    suspects = suspects.filter(usable)
    first_seen = ibis.window(group_by=list(SOURCE_COLUMNS), order_by="line_no")
    return suspects.filter(ibis.row_number().over(first_seen) > 0).select("line_no")


def _usable(raw: ir.Table) -> ir.BooleanValue:
    """Kept by the customer and value steps."""
    return raw.customer_id.notnull() & ~_unusable(raw)


def _unusable(raw: ir.Table) -> ir.BooleanValue:
    """The value step's test: a blank invoice, date, quantity or price, a zero quantity or a
    price that is not a finite number."""
    return ibis.or_(
        *(raw[c].isnull() for c in ("invoice_no", "invoice_date", "quantity", "unit_price")),
        raw.quantity == 0,
        raw.unit_price.isnan(),
        raw.unit_price.isinf(),
    ).fill_null(True)


def flag_lines(raw: ir.Table, rules: CleaningRules, repeats: ir.Table | None = None) -> ir.Table:
    """Every raw line with `dropped_by`: the first rule that drops it, NULL when it is kept;
    and `matchable`: whether it survives the customer, value and duplicate steps (the lines
    cancellation matching looks at). `repeats` is `repeated_lines(raw)` when already at hand.
    """
    repeats = repeated_lines(raw) if repeats is None else repeats
    is_cancellation = raw.invoice_no.startswith(rules.cancellation_prefix).fill_null(False) | (
        raw.quantity < 0
    ).fill_null(False)
    non_product = raw.stock_code.re_search(rules.non_product_pattern).fill_null(False)
    is_repeat = raw.line_no.isin(repeats.line_no)
    dropped_by = ibis.cases(
        (raw.customer_id.isnull(), STEPS[0]),
        (_unusable(raw), STEPS[1]),
        (is_repeat, STEPS[2]),
        (is_cancellation, STEPS[3]),
        (non_product, STEPS[4]),
        (raw.unit_price <= 0, STEPS[5]),
        else_=ibis.null("string"),
    )
    matchable = _usable(raw) & ~is_repeat
    return raw.mutate(dropped_by=dropped_by, is_cancellation=is_cancellation, matchable=matchable)


def match_cancellations(lines: ir.Table, rules: CleaningRules) -> ir.Table:
    """One row per cancellation line with `purchase_line_no`: the purchase it cancels, or NULL.

    Candidates are earlier purchase lines (strictly earlier invoice date, positive quantity)
    of the same customer and stock code. A single candidate is matched whatever its quantity;
    among several, the latest in file order whose quantity covers the cancelled quantity.
    The cancellations are stored on the engine when this is called.
    """
    # the study matched against every line that survived the customer, value and duplicate
    # steps; the few cancellations are stored first, so that the lines are then read once,
    # for the purchases, instead of being stored whole for the join
    cancels = engine.cached(
        lines.filter(
            lines.matchable
            & (lines.quantity < 0)
            & (lines.description.fill_null("") != rules.discount_description)
        ).select(
            cancel_line_no="line_no",
            customer_id="customer_id",
            stock_code="stock_code",
            cancel_date="invoice_date",
            quantity_canceled=-lines.quantity,
        )
    )
    purchases = lines.filter(lines.matchable & (lines.quantity > 0)).select(
        purchase_line_no="line_no",
        p_customer="customer_id",
        p_stock="stock_code",
        p_date="invoice_date",
        p_quantity="quantity",
    )
    pairs = cancels.left_join(
        purchases,
        [
            cancels.customer_id == purchases.p_customer,
            cancels.stock_code == purchases.p_stock,
            purchases.p_date < cancels.cancel_date,
        ],
    )
    chosen = pairs.group_by("cancel_line_no", "quantity_canceled").aggregate(
        candidates=pairs.purchase_line_no.count(),
        latest=pairs.purchase_line_no.max(),
        latest_covering=pairs.purchase_line_no.max(
            where=pairs.p_quantity >= pairs.quantity_canceled
        ),
    )
    return chosen.select(
        "cancel_line_no",
        "quantity_canceled",
        "candidates",
        purchase_line_no=ibis.ifelse(chosen.candidates == 1, chosen.latest, chosen.latest_covering),
    )


def canceled_quantities(matches: ir.Table) -> ir.Table:
    """Per matched purchase line, the cancelled quantity; the later cancellation wins."""
    matched = matches.filter(matches.purchase_line_no.notnull())
    return matched.group_by("purchase_line_no").aggregate(
        quantity_canceled=matched.quantity_canceled.argmax(matched.cancel_line_no)
    )


def clean_transactions(raw: ir.Table, rules: CleaningRules | None = None) -> CleaningResult:
    """The study's cleaning of a canonical transaction table: each kept line with its
    `line_no`, in no particular order (sorting 108 million lines back into file order took
    most of the write; every reader aggregates, and `line_no` gives the order where needed).

    Only small tables are stored on the engine (the repeated lines, the cancellations and
    their matches); each query reads the lines afresh, which at scale is much faster than
    storing them all."""
    rules = rules or CleaningRules()
    lines = flag_lines(raw, rules, engine.cached(repeated_lines(raw)))
    dropped = count_dropped(lines, rules)
    kept = lines.filter(lines.dropped_by.isnull())
    if rules.match_cancellations:
        matches = engine.cached(match_cancellations(lines, rules))
        canceled = engine.cached(canceled_quantities(matches))
        kept = kept.left_join(canceled, kept.line_no == canceled.purchase_line_no)
        quantity_canceled = ibis.coalesce(kept.quantity_canceled, 0)
        matching = matching_summary(matches, dropped)
    else:
        quantity_canceled = ibis.literal(0, "int64")
        matching = {}
    table = (
        kept.mutate(quantity_canceled=quantity_canceled.cast("int64"))
        .mutate(total_price=lambda t: t.unit_price * (t.quantity - t.quantity_canceled))
        .select("line_no", *SOURCE_COLUMNS, "quantity_canceled", "total_price")
    )
    return CleaningResult(table=table, funnel=funnel(dropped), matching=matching)


def midnight(day: dt.date) -> ir.TimestampScalar:
    """The start of `day`, as the engines compare invoice dates with it."""
    return ibis.timestamp(dt.datetime.combine(day, dt.time()))


def lines_before(lines: ir.Table, day: dt.date) -> ir.Table:
    """The lines dated before `day` (before its midnight): what is known on that morning."""
    return lines.filter(lines.invoice_date < midnight(day))


def cleaned_before(
    raw: ir.Table, cutoff: dt.date, rules: CleaningRules
) -> tuple[ir.Table, pd.Timestamp]:
    """The lines before the cut-off, cleaned on their own (so a later cancellation never
    reaches them), and the date of the last one: what every refit before a cut-off sees."""
    clean = clean_transactions(lines_before(raw, cutoff), rules).table
    last = pd.Timestamp(clean.invoice_date.max().execute())
    if last >= pd.Timestamp(cutoff):
        raise AssertionError(f"a transaction on or after {cutoff} was used for fitting")
    return clean, last


def count_dropped(lines: ir.Table, rules: CleaningRules) -> pd.DataFrame:
    """Lines per `dropped_by` (NULL: kept) and how many of them are discount lines, one pass."""
    discount = lines.description == rules.discount_description
    return (
        lines.group_by("dropped_by")
        .aggregate(rows=lines.count(), discounts=lines.count(where=discount))
        .execute()
    )


def funnel(dropped: pd.DataFrame) -> pd.DataFrame:
    """Rows removed by each step and rows left after it, starting from the raw count."""
    by_step = dict(zip(dropped["dropped_by"], dropped["rows"], strict=True))
    left = int(dropped["rows"].sum())
    rows = [{"step": "raw", "rows_removed": 0, "rows_after": left}]
    for step in STEPS:
        removed = int(by_step.get(step, 0))
        left -= removed
        rows.append({"step": f"drop {step}", "rows_removed": removed, "rows_after": left})
    return pd.DataFrame(rows)


def nothing_left(funnel: pd.DataFrame) -> str | None:
    """Why no line survived cleaning, from the funnel; None when some did."""
    if int(funnel["rows_after"].iloc[-1]) > 0:
        return None
    removed = funnel[funnel["rows_removed"] > 0]
    reasons = ", ".join(
        f"{step.removeprefix('drop ')} {n:,}"
        for step, n in zip(removed["step"], removed["rows_removed"], strict=True)
    )
    lines = int(funnel["rows_after"].iloc[0])
    return f"no purchase line is left after cleaning ({lines:,} lines: {reasons or 'none'})"


def matching_summary(matches: ir.Table, dropped: pd.DataFrame) -> dict[str, int]:
    """How the cancellation lines were resolved: matched, without candidate, none covering."""
    row = (
        matches.aggregate(
            matched=matches.purchase_line_no.notnull().sum(),
            no_earlier_purchase=(matches.candidates == 0).sum(),
            no_covering_purchase=(
                (matches.candidates > 1) & matches.purchase_line_no.isnull()
            ).sum(),
            purchases_canceled=matches.purchase_line_no.nunique(),
        )
        .execute()
        .iloc[0]
    )
    cancellations = dropped[dropped["dropped_by"] == STEPS[3]]
    summary = {name: int(value) if pd.notna(value) else 0 for name, value in row.items()}
    return {
        "cancellation_lines": int(cancellations["rows"].sum()),
        "discount_lines": int(cancellations["discounts"].sum()),
    } | summary


@dataclass(frozen=True)
class CheckOutcome:
    """One quality check on the clean table: whether it passed and how many rows offend."""

    name: str
    passed: bool
    offending_rows: int
    blocking: bool
    description: str


CHECKS = {
    "no_null_keys": (True, "no line lacks invoice, date, customer, quantity or price"),
    "positive_quantity_and_price": (True, "every quantity and unit price is above zero"),
    "no_cancellations_left": (True, "no invoice carries the cancellation prefix"),
    "funnel_adds_up": (True, "each step's rows after = rows before - rows removed = table rows"),
    "canceled_within_quantity": (
        False,
        "quantity_canceled <= quantity; the study's rule matches a lone earlier purchase whatever"
        " its quantity, so a few lines cancel more than they bought (stock bought before the log)",
    ),
}
"""Check name -> (blocking, what it asserts). A failed blocking check keeps the table unwritten."""


def check_clean(table: ir.Table, funnel: pd.DataFrame, rules: CleaningRules) -> list[CheckOutcome]:
    """Evaluate `CHECKS` on the clean table in one pass."""
    # stock codes are optional (a log may have none): the products are then one unknown one
    keys = ("invoice_no", "invoice_date", "customer_id", "quantity", "unit_price")
    null_key = ibis.or_(*(table[k].isnull() for k in keys))
    counts = (
        table.aggregate(
            rows=table.count(),
            no_null_keys=null_key.sum(),
            positive_quantity_and_price=((table.quantity <= 0) | (table.unit_price <= 0)).sum(),
            no_cancellations_left=table.invoice_no.startswith(rules.cancellation_prefix).sum(),
            canceled_within_quantity=(table.quantity_canceled > table.quantity).sum(),
        )
        .execute()
        .iloc[0]
    )
    steps_add_up = (
        funnel["rows_after"].shift(1).fillna(funnel["rows_after"].iloc[0]) - funnel["rows_removed"]
        == funnel["rows_after"]
    ).all()
    funnel_gap = abs(int(funnel["rows_after"].iloc[-1]) - int(counts["rows"]))
    offending = {name: int(counts[name] or 0) for name in CHECKS if name in counts}
    offending["funnel_adds_up"] = funnel_gap + (0 if steps_add_up else 1)
    return [
        CheckOutcome(name, offending[name] == 0, offending[name], blocking, description)
        for name, (blocking, description) in CHECKS.items()
    ]
