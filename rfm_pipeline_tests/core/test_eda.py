"""Each exploratory answer on a small log whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from rfm_pipeline.core.cleaning import clean_transactions
from rfm_pipeline.core.eda import _hour_ranges, explore
from rfm_pipeline_tests.conftest import line, raw_table


@pytest.fixture
def found(con):
    lines = [
        # a Monday in November, 10:00, Germany; a Tuesday in November, 11:00, UK
        line(invoice="1", stock="111", quantity=10, price=2.0, date="2011-11-07 10:05",
             customer="1", country="Germany"),
        line(invoice="1", stock="222", quantity=1, price=100.0, date="2011-11-07 10:05",
             customer="1", country="Germany", description="BIG THING"),
        line(invoice="2", stock="111", quantity=5, price=2.0, date="2011-11-08 11:00",
             customer="2", country="UK"),
        line(invoice="3", stock="111", quantity=1, price=2.0, date="2011-10-03 14:30",
             customer="3", country="UK"),
        line(invoice="C4", stock="111", quantity=-2, price=2.0, date="2011-11-09 12:00",
             customer="2", country="UK"),
        line(invoice="5", stock="111", quantity=1, price=2.0, date="2011-11-09 12:00",
             customer=None, country="Unspecified", description=None),
    ]  # fmt: skip
    raw = raw_table(con, lines)
    return explore(raw, clean_transactions(raw).table)


def answer(found, question: str) -> str:
    answers = found.answers.set_index("question")["answer"]
    return answers[question]


def test_data_questions(found):
    assert answer(found, "How big is the log?") == "6 lines x 8 columns"
    assert answer(found, "What period?") == "2011-10-03 to 2011-11-09"
    assert answer(found, "How many values are missing?") == "2 (description 1, customer_id 1)"
    assert answer(found, "How many customers?") == "3 distinct customer ids"
    assert answer(found, "How many countries?") == "2 besides unspecified"
    assert answer(found, "Which product is sold most often?").startswith("111 (")


def test_cancellations(found):
    assert answer(found, "What share of orders are cancellations?").startswith("25% (1 of 4")
    assert answer(found, "How many items were cancelled?") == "2"


def test_countries_and_money(found):
    assert answer(found, "Top three countries by revenue") == "Germany, UK"
    assert answer(found, "Top three countries by orders") == "UK, Germany"
    assert answer(found, "Which product brings the most revenue?").startswith("222 (BIG THING)")
    assert (
        answer(found, "Mean line value (total_price)?") == "32.00"
    )  # (20 + 100 + 2 x (5 - 2 cancelled) + 2) / 4


def test_time(found):
    assert answer(found, "Which month has the most revenue?").startswith("November 2011")
    closed = answer(found, "On which weekdays are there no orders?")
    assert closed == "Wednesday, Thursday, Friday, Saturday, Sunday"
    silent = answer(found, "At which hours are there no orders?")
    assert silent == "15:00-10:00, 12:00-14:00"  # the night wraps around midnight
    weekdays = found.tables["orders_by_weekday"].set_index("weekday")["orders"]
    assert weekdays["Monday"] == 2 and weekdays["Tuesday"] == 1


def test_hypotheses_quote_their_figures(found):
    assert any("no orders on Wednesday" in h for h in found.hypotheses)
    assert any("Germany brings 94% of revenue" in h for h in found.hypotheses)
    assert not any("peak" in h for h in found.hypotheses)  # two months are no season


def test_hour_ranges_wrap_around_midnight():
    assert _hour_ranges([0, 1, 2, 21, 22, 23]) == "21:00-3:00"
    assert _hour_ranges([5]) == "5:00-6:00"
    assert _hour_ranges([]) == ""


def test_tables_are_small_frames(found):
    assert isinstance(found.tables["countries"], pd.DataFrame)
    assert len(found.tables["orders_by_hour"]) == 24
