"""The new-customer test: fitted before the cut-off only, judged on later first-time buyers."""

from __future__ import annotations

import datetime as dt

import numpy as np

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.cleaning import CleaningRules
from rfm_pipeline.core.evaluation import Refit, evaluate_new_customers
from rfm_pipeline_tests.conftest import line, raw_table

CUTOFF = dt.date(2011, 10, 1)


STUDY = Refit(
    rules=CleaningRules(),
    features={"outlier_quantile": 0.95, "log_transform": False},
    embedding={"random_state": 42},
    classifier={"random_state": 42},
)
"""The main path's defaults, as the assets record them."""


def log() -> list[dict]:
    """Three kinds of customer before the cut-off, and new ones of each kind after it."""
    rng = np.random.default_rng(0)
    lines, invoice = [], 0
    kinds = [(1, 5.0), (4, 50.0), (10, 300.0)]  # orders and price: the kinds differ in F and M
    for prefix, start, end, count in (
        ("old", "2011-01-01", "2011-09-30", 40),
        ("new", "2011-10-01", "2011-12-09", 12),
    ):
        last = dt.date.fromisoformat(end)
        for kind, (orders, price) in enumerate(kinds):
            for c in range(count):
                for o in range(orders):
                    days = int(rng.integers(0, 5)) + o * 3
                    day = max(last - dt.timedelta(days=days), dt.date.fromisoformat(start))
                    invoice += 1
                    lines.append(
                        line(
                            invoice=str(invoice),
                            customer=f"{prefix}{kind}{c:02d}",
                            date=f"{day} 10:00",
                            price=price * rng.uniform(0.9, 1.1),
                            quantity=1,
                        )
                    )
    # a later cancellation of an early purchase must not reach the fitted table
    lines.append(
        line(
            invoice="C1",
            customer="old000",
            quantity=-1,
            date="2011-11-01 10:00",
            price=lines[0]["unit_price"],
            stock=lines[0]["stock_code"],
        )
    )
    return lines


def test_fitting_uses_nothing_from_the_cut_off_on(con):
    raw = raw_table(con, log())
    result = evaluate_new_customers(raw, CUTOFF, "pca", "kmeans", 3, STUDY)
    # what was fitted is what the lines before the cut-off alone give
    lines = [row for row in log() if row["invoice_date"] < dt.datetime(2011, 10, 1)]
    alone = cleaning.clean_transactions(raw_table(con, lines), STUDY.rules).table
    expected = rfm.rfm_table(alone, CUTOFF).execute().sort_values("customer_id", ignore_index=True)
    assert result.fitted.sort_values("customer_id", ignore_index=True).equals(expected)
    assert len(result.fitted) == 120
    # the fitted customers' later orders and cancellations change nothing fitted or compared
    later = [
        line(
            invoice=f"L{i}",
            customer=f"old2{i:02d}",
            quantity=40,
            price=300.0,
            date="2011-11-20 10:00",
        )
        for i in range(10)
    ]
    later += [
        line(
            invoice=f"C{i}",
            customer=f"old1{i:02d}",
            quantity=-1,
            date="2011-11-21 10:00",
            price=row["unit_price"],
        )
        for i, row in enumerate(log()[40:50])
    ]
    changed = evaluate_new_customers(
        raw_table(con, log() + later), CUTOFF, "pca", "kmeans", 3, STUDY
    )
    assert changed.fitted.equals(result.fitted)
    assert changed.per_segment.equals(result.per_segment)
    grid = np.array([[r, f, m] for r in (1, 30, 200) for f in (1, 4, 10) for m in (5, 200, 3000)])
    assert (changed.classifier.model.predict(grid) == result.classifier.model.predict(grid)).all()
    assert result.new_customers == 36
    assert result.agreement >= 0.9
    assert result.space == "pca"


def test_a_space_that_cannot_place_new_customers_is_replaced_by_umap(con):
    raw = raw_table(con, log())
    result = evaluate_new_customers(raw, CUTOFF, "tsne", "kmeans", 3, STUDY)
    assert result.space == "umap"
    assert result.new_customers == 36


def test_without_later_customers_the_evaluation_says_so(con):
    early = [row for row in log() if row["customer_id"].startswith("old")]
    early = [row for row in early if row["invoice_date"] < dt.datetime(2011, 10, 1)]
    result = evaluate_new_customers(raw_table(con, early), CUTOFF, "pca", "kmeans", 3, STUDY)
    assert result.new_customers == 0
    assert result.note == "no customer first bought on or after the cut-off"
    assert np.isnan(result.agreement)


def test_the_refit_uses_the_main_paths_settings(con):
    raw = raw_table(con, log())
    refit = Refit(
        rules=CleaningRules(cancellation_prefix="X"),  # C1 is no cancellation: a bad line
        features={"outlier_quantile": 0.9, "log_transform": True},
        embedding={"random_state": 7},
        classifier={"random_state": 7, "features": ["recency", "frequency"]},
    )
    result = evaluate_new_customers(raw, CUTOFF, "pca", "kmeans", 3, refit)
    assert result.classifier.features == ["recency", "frequency"]
    assert result.new_customers == 36
