"""eda_report: the study's questions answered, with the cancellation prefix cleaning used."""

import pandas as pd

from rfm_pipeline.core.eda import PLOTS, QUESTIONS

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_question_is_answered_from_the_shops_log_and_plotted(graph):
    answers = graph.table("eda_report", week=None)
    assert answers["question"].tolist() == [question for _, question, _ in QUESTIONS]
    answer = answers.set_index("question")["answer"]
    assert graph.metadata("eda_report")["not_answered"] == "none"
    # the figures, worked out from the file the graph read (beside its warehouse)
    log = pd.read_parquet(graph.warehouse.parent / "shop.parquet")
    assert answer["How big is the log?"] == f"{len(log):,} lines x {len(log.columns)} columns"
    days = pd.to_datetime(log["InvoiceDate"])
    assert answer["What period?"] == f"{days.min():%Y-%m-%d} to {days.max():%Y-%m-%d}"
    customers = log["CustomerID"].dropna().nunique()
    assert answer["How many customers?"] == f"{customers} distinct customer ids"
    countries = set(log["Country"]) - {"Unspecified"}
    assert answer["How many countries?"] == f"{len(countries)} besides unspecified"
    orders = log.loc[log["CustomerID"].notna(), "InvoiceNo"].drop_duplicates()
    cancelled = orders.str.startswith("C")  # the cleaning rules' prefix
    assert answer["What share of orders are cancellations?"] == (
        f"{cancelled.mean():.0%} ({cancelled.sum()} of {len(orders):,} orders of identified"
        " customers)"
    )
    weekdays = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    closed = [day for day in weekdays if day not in set(days.dt.day_name())]
    assert closed and answer["On which weekdays are there no orders?"] == ", ".join(closed)
    clean = graph.table("clean_transactions", week=None)
    assert answer["Mean line value (total_price)?"] == f"{clean['total_price'].mean():,.2f}"
    for name in PLOTS:  # a full log draws every plot
        assert (graph.warehouse / "plots" / f"eda_{name}.png").read_bytes()[:8] == PNG
