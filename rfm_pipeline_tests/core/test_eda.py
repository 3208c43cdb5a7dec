"""Each exploratory answer on a small log whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from rfm_pipeline.core.cleaning import clean_transactions
from rfm_pipeline.core.eda import QUESTIONS, _hour_ranges, eda_figures, explore
from rfm_pipeline.core.ingest import canonical_log, frame_source
from rfm_pipeline_tests.conftest import line, raw_table


@pytest.fixture
def found(con):
    lines = [
        # a Monday in November, 10:00, Germany; a Tuesday in November, 11:00, UK
        line(
            invoice="1",
            stock="111",
            quantity=10,
            price=2.0,
            date="2011-11-07 10:05",
            customer="1",
            country="Germany",
        ),
        line(
            invoice="1",
            stock="222",
            quantity=1,
            price=100.0,
            date="2011-11-07 10:05",
            customer="1",
            country="Germany",
            description="BIG THING",
        ),
        line(
            invoice="2",
            stock="111",
            quantity=5,
            price=2.0,
            date="2011-11-08 11:00",
            customer="2",
            country="UK",
        ),
        line(
            invoice="3",
            stock="111",
            quantity=1,
            price=2.0,
            date="2011-10-03 14:30",
            customer="3",
            country="UK",
        ),
        line(
            invoice="C4",
            stock="111",
            quantity=-2,
            price=2.0,
            date="2011-11-09 12:00",
            customer="2",
            country="UK",
        ),
        line(
            invoice="5",
            stock="111",
            quantity=1,
            price=2.0,
            date="2011-11-09 12:00",
            customer=None,
            country="Unspecified",
            description=None,
        ),
    ]
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


def test_the_tables_behind_the_answers_and_plots(found):
    tables = found.tables
    # Germany: customer 1's order, 10 x 2 + 100; UK: customers 2 and 3, 2 x (5 - 2) + 2
    assert tables["countries"].to_dict("records") == [
        {"country": "Germany", "customers": 1, "orders": 1, "revenue": 120.0},
        {"country": "UK", "customers": 2, "orders": 2, "revenue": 8.0},
    ]
    hours = tables["orders_by_hour"].set_index("hour")["orders"]
    assert hours.index.tolist() == list(range(24))
    assert hours[hours > 0].to_dict() == {10: 1, 11: 1, 14: 1}
    months = tables["revenue_by_month"]
    assert months["month"].dt.strftime("%Y-%m").tolist() == ["2011-10", "2011-11"]
    assert months["revenue"].tolist() == [2.0, 126.0]
    assert tables["order_values"].values.tolist() == [["1", 120.0], ["2", 6.0], ["3", 2.0]]
    top = tables["top_products"]
    assert top[["stock_code", "revenue"]].values.tolist() == [["222", 100.0], ["111", 28.0]]


# A subscription or CRM export: customer, compact date, amount; nothing else.
THREE_COLUMNS = pd.DataFrame(
    {
        "customer_id": ["C1", "C1", "C1", "C2", "C3", "C3"],
        "invoice_date": ["20230102", "20230102", "20230215", "20230103", "20230301", "20230302"],
        "amount": ["10.00", "5.00", "20.00", "100.00", "7.00", None],  # the last one blank
    }
)


@pytest.fixture
def three_columns(con):
    raw = canonical_log(frame_source(con, THREE_COLUMNS), "log.csv").table
    return explore(raw, clean_transactions(raw).table)


def test_a_log_of_customer_date_and_amount_answers_what_its_columns_allow(three_columns):
    answers = three_columns.answers.set_index("question")["answer"]
    assert answers["How big is the log?"] == "6 lines x 3 columns"
    assert answers["Which types?"] == "invoice_date timestamp, amount float64, customer_id string"
    assert answers["What period?"] == "2023-01-02 to 2023-03-02"
    assert answers["How many values are missing?"] == "1 (amount 1)"
    assert answers["How many customers?"] == "3 distinct customer ids"
    assert answers["Which month has the most revenue?"] == "January 2023 (115)"
    # orders are customer-days: Monday (C1), Tuesday (C2), Wednesday (C1, C3); Thursday's
    # line has no amount and is cleaned away
    assert answers["On which weekdays are there no orders?"] == (
        "Thursday, Friday, Saturday, Sunday"
    )
    assert answers["Mean line value (total_price)?"] == "28.40"  # 142 / 5
    # C1's two lines of 2 January are one order of 15
    assert answers["Order values?"] == "median 17.50, mean 35.50, largest 100.00"
    weekdays = three_columns.tables["orders_by_weekday"].set_index("weekday")["orders"]
    assert weekdays.tolist() == [1, 1, 2, 0, 0, 0, 0]


def test_a_log_of_customer_date_and_amount_says_what_it_cannot_answer(three_columns):
    answers = three_columns.answers.set_index("question")["answer"]
    countries = [q for topic, q, _ in QUESTIONS if topic == "countries"]
    assert len(countries) == 4
    for question in countries:
        assert answers[question] == "cannot answer: no country column in the input"
    for question in ("What share of orders are cancellations?", "How many items were cancelled?"):
        assert answers[question] == "cannot answer: no invoice numbers in the input"
    for question in ("Which product is sold most often?", "Which product brings the most revenue?"):
        assert answers[question] == "cannot answer: no stock codes in the input"
    for question in ("When are most orders placed?", "At which hours are there no orders?"):
        assert answers[question] == "cannot answer: the dates have no time of day"
    assert three_columns.unanswered == {
        "countries": "no country column in the input",
        "products": "no stock codes in the input",
        "cancellations": "no invoice numbers in the input",
        "hours": "the dates have no time of day",
    }
    assert len(three_columns.answers) == len(QUESTIONS)


def test_a_log_of_customer_date_and_amount_draws_and_supposes_only_what_it_can(three_columns):
    tables = three_columns.tables
    assert not {"countries", "top_products", "orders_by_hour"} & tables.keys()
    assert sorted(eda_figures(tables)) == ["order_values", "orders_by_weekday", "revenue_by_month"]
    said = " ".join(three_columns.hypotheses)
    assert "office hours" not in said and "of revenue: segments" not in said
    assert "no orders on Thursday, Friday, Saturday, Sunday" in said


def test_the_full_log_answers_every_question(found):
    assert found.unanswered == {}
    assert not found.answers["answer"].str.startswith("cannot answer").any()


def test_stock_codes_without_descriptions_or_countries(con):
    lines = [
        line(
            invoice="1",
            stock="111",
            quantity=2,
            price=3.0,
            date="2011-11-07 10:05",
            customer="1",
            country=None,
            description=None,
        ),
        line(
            invoice="1",
            stock="222",
            quantity=1,
            price=9.0,
            date="2011-11-07 10:05",
            customer="1",
            country=None,
            description=None,
        ),
        line(
            invoice="2",
            stock="111",
            quantity=1,
            price=3.0,
            date="2011-11-08 15:30",
            customer="2",
            country=None,
            description=None,
        ),
        line(
            invoice="C3",
            stock="111",
            quantity=-1,
            price=3.0,
            date="2011-11-09 12:00",
            customer="2",
            country=None,
            description=None,
        ),
    ]
    raw = raw_table(con, lines)
    found = explore(raw, clean_transactions(raw).table)
    answers = found.answers.set_index("question")["answer"]
    assert answers["How big is the log?"] == "4 lines x 6 columns"  # no description, no country
    assert answers["Which product is sold most often?"] == "111, on 3 lines"
    assert answers["Which product brings the most revenue?"] == "222, 9"
    assert answers["What share of orders are cancellations?"].startswith("33% (1 of 3")
    assert answers["How many items were cancelled?"] == "1"
    assert answers["At which hours are there no orders?"] == "16:00-10:00, 11:00-15:00"
    assert answers["Where are most customers?"] == "cannot answer: no country column in the input"
    assert found.unanswered == {"countries": "no country column in the input"}
