"""Each cleaning rule, and every case of the study's cancellation matching, on tiny logs."""

from __future__ import annotations

import pandas as pd
import pytest

from rfm_pipeline.core.cleaning import CleaningRules, check_clean, clean_transactions
from rfm_pipeline_tests.conftest import line, raw_table


def clean(con, lines, **rules) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    result = clean_transactions(raw_table(con, lines), CleaningRules(**rules))
    table = result.table.execute().sort_values("line_no", ignore_index=True)  # no set order
    return table, result.funnel, result.matching


def removed(funnel: pd.DataFrame) -> dict[str, int]:
    return dict(zip(funnel["step"], funnel["rows_removed"], strict=True))


def test_lines_without_customer_are_dropped(con):
    table, funnel, _ = clean(con, [line(), line(customer=None, invoice="536366")])
    assert len(table) == 1
    assert removed(funnel)["drop missing customer"] == 1


def test_exact_duplicates_keep_the_first_line(con):
    lines = [line(), line(), line(quantity=7)]
    table, funnel, _ = clean(con, lines)
    assert table["quantity"].tolist() == [6, 7]
    assert removed(funnel)["drop exact duplicate"] == 1


def test_lines_differing_in_any_column_are_not_duplicates(con):
    # same invoice, stock code and quantity (the cheap first comparison), yet distinct lines
    lines = [
        line(),
        line(price=2.56),
        line(description="OTHER"),
        line(date="2011-01-10 10:01"),
        line(customer="17851"),
        line(country="France"),
        line(),
    ]
    table, funnel, _ = clean(con, lines)
    assert len(table) == 6
    assert removed(funnel)["drop exact duplicate"] == 1


def test_missing_values_count_as_equal_among_duplicates(con):
    lines = [
        line(stock=None, description=None, country=None),
        line(stock=None, description=None, country=None),
        line(stock="", description=None, country=None),  # '' is not a missing stock code
        line(stock=None, description="", country=None),
        line(stock=None, description=None, country=None),
    ]
    table, funnel, _ = clean(con, lines)
    assert removed(funnel)["drop exact duplicate"] == 2
    assert table["stock_code"].fillna("NULL").tolist() == ["NULL", "", "NULL"]
    assert table["description"].fillna("NULL").tolist() == ["NULL", "NULL", ""]


def test_the_first_line_in_file_order_is_kept_among_duplicates(con):
    lines = [line(quantity=2), line(), line(quantity=2), line(), line(quantity=2)]
    table, funnel, _ = clean(con, lines)
    assert table["quantity"].tolist() == [2, 6]
    assert removed(funnel)["drop exact duplicate"] == 3


def test_non_product_codes_and_zero_prices_are_dropped(con):
    lines = [line(), line(stock="POST"), line(stock="BANK CHARGES"), line(stock="22633", price=0.0)]
    table, funnel, _ = clean(con, lines)
    assert table["stock_code"].tolist() == ["85123A"]
    assert removed(funnel)["drop non-product stock code"] == 2
    assert removed(funnel)["drop non-positive unit price"] == 1


def test_funnel_counts_down_from_raw(con):
    lines = [line(), line(customer=None), line(invoice="C1", quantity=-1, date="2011-02-01 10:00")]
    _, funnel, _ = clean(con, lines)
    assert funnel["step"].tolist()[0] == "raw"
    assert funnel["rows_after"].tolist() == [3, 2, 2, 2, 1, 1, 1]


def test_single_earlier_purchase_is_matched_whatever_its_quantity(con):
    lines = [line(quantity=2), line(invoice="C9", quantity=-5, date="2011-02-01 10:00")]
    table, _, matching = clean(con, lines)
    assert table["quantity_canceled"].tolist() == [5]
    assert table["total_price"].tolist() == pytest.approx([2.55 * (2 - 5)])
    assert matching["matched"] == 1


def test_among_several_the_latest_covering_purchase_is_matched(con):
    lines = [
        line(invoice="1", quantity=10, date="2011-01-01 10:00"),
        line(invoice="2", quantity=10, date="2011-01-02 10:00"),
        line(invoice="3", quantity=1, date="2011-01-03 10:00"),  # latest, but too small
        line(invoice="C4", quantity=-4, date="2011-02-01 10:00"),
    ]
    table, _, matching = clean(con, lines)
    assert table.set_index("invoice_no")["quantity_canceled"].to_dict() == {"1": 0, "2": 4, "3": 0}
    assert matching["matched"] == 1


def test_several_candidates_none_covering_is_left_unmatched(con):
    lines = [
        line(invoice="1", quantity=1, date="2011-01-01 10:00"),
        line(invoice="2", quantity=1, date="2011-01-02 10:00"),
        line(invoice="C3", quantity=-4, date="2011-02-01 10:00"),
    ]
    table, _, matching = clean(con, lines)
    assert table["quantity_canceled"].tolist() == [0, 0]
    assert matching["no_covering_purchase"] == 1


def test_cancellation_without_earlier_purchase_is_counted_and_dropped(con):
    lines = [
        line(invoice="C1", quantity=-1, date="2011-01-01 10:00"),
        line(invoice="2", quantity=3, date="2011-01-01 10:00"),  # same time: not earlier
        line(invoice="3", stock="22633", quantity=3, date="2010-12-01 10:00"),  # other product
    ]
    table, funnel, matching = clean(con, lines)
    assert table["quantity_canceled"].tolist() == [0, 0]
    assert matching["no_earlier_purchase"] == 1
    assert removed(funnel)["drop cancellation"] == 1


def test_discount_lines_are_not_matched(con):
    lines = [
        line(stock="D", quantity=1, description="Discount"),
        line(invoice="C2", stock="D", quantity=-1, description="Discount", date="2011-02-01 10:00"),
    ]
    _, _, matching = clean(con, lines)
    assert matching["discount_lines"] == 1
    assert matching["matched"] == matching["no_earlier_purchase"] == 0


def test_two_cancellations_of_one_purchase_the_later_in_the_file_wins(con):
    lines = [
        line(invoice="1", quantity=10),
        line(invoice="C2", quantity=-3, date="2011-02-01 10:00"),
        line(invoice="C3", quantity=-2, date="2011-02-02 10:00"),
    ]
    table, _, matching = clean(con, lines)
    assert table["quantity_canceled"].tolist() == [2]
    assert matching["matched"] == 2
    assert matching["purchases_canceled"] == 1


def test_matching_counts_purchases_that_later_rules_drop(con):
    # the study matched against all lines with a customer, zero-priced ones included
    lines = [
        line(invoice="1", quantity=5, date="2011-01-01 10:00"),
        line(invoice="2", quantity=5, price=0.0, date="2011-01-02 10:00"),
        line(invoice="C3", quantity=-5, date="2011-02-01 10:00"),
    ]
    table, _, _ = clean(con, lines)
    assert table["quantity_canceled"].tolist() == [0]


def test_cancellations_can_simply_be_dropped(con):
    lines = [line(quantity=10), line(invoice="C2", quantity=-3, date="2011-02-01 10:00")]
    table, funnel, matching = clean(con, lines, match_cancellations=False)
    assert table["quantity_canceled"].tolist() == [0]
    assert removed(funnel)["drop cancellation"] == 1
    assert matching == {}


def test_rules_are_configurable(con):
    lines = [line(stock="POST"), line(invoice="X1", quantity=2, date="2011-02-01 10:00")]
    table, _, _ = clean(con, lines, non_product_pattern=r"^ZZZ", cancellation_prefix="X")
    assert table["stock_code"].tolist() == ["POST"]


def test_clean_table_has_the_line_number_and_the_canonical_columns_plus_two(con):
    table, _, _ = clean(con, [line()])
    assert list(table.columns) == [
        "line_no",
        "invoice_no",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "customer_id",
        "country",
        "quantity_canceled",
        "total_price",
    ]


def test_checks_pass_on_a_clean_table_and_flag_over_cancellation(con):
    lines = [line(quantity=2), line(invoice="C9", quantity=-5, date="2011-02-01 10:00")]
    rules = CleaningRules()
    result = clean_transactions(raw_table(con, lines), rules)
    outcomes = {o.name: o for o in check_clean(result.table, result.funnel, rules)}
    assert all(o.passed for o in outcomes.values() if o.blocking)
    assert not outcomes["canceled_within_quantity"].passed
    assert outcomes["canceled_within_quantity"].offending_rows == 1


def test_checks_catch_a_funnel_that_does_not_add_up(con):
    rules = CleaningRules()
    result = clean_transactions(raw_table(con, [line(), line(quantity=7)]), rules)
    funnel = result.funnel.assign(rows_after=result.funnel["rows_after"] + [0, 0, 0, 0, 0, 0, 1])
    outcomes = {o.name: o for o in check_clean(result.table, funnel, rules)}
    assert not outcomes["funnel_adds_up"].passed
    assert outcomes["no_null_keys"].passed
