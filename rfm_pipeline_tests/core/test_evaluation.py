"""The new-customer test: fitted before the cut-off only, judged on later first-time buyers."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rfm_pipeline.core import cleaning, rfm
from rfm_pipeline.core.cleaning import CleaningRules
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.evaluation import Refit, evaluate_interest_models, evaluate_new_customers
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


FAMILIES = [("CHRISTMAS CARD", 0.5), ("TABLE LAMP", 15.0), ("JUMBO BAG", 2.5)]


def interest_log(after: bool = True) -> list[dict]:
    """Customers who each buy mostly from one product family, before and after the cut-off."""
    rng = np.random.default_rng(1)
    lines, invoice = [], 0
    periods = [("2011-03-01", 90)] + ([("2011-10-10", 30)] if after else [])
    for start, customers in periods:
        first = dt.date.fromisoformat(start)
        for c in range(customers):
            family = c % 3
            for order in range(1 + c % 4):
                invoice += 1
                day = first + dt.timedelta(days=int(rng.integers(0, 40)) + order)
                for item in range(3):
                    pick = family if item < 2 else int(rng.integers(0, 3))
                    name, price = FAMILIES[pick]
                    lines.append(
                        line(
                            invoice=str(invoice),
                            stock=f"{pick + 1}{item:03d}",
                            description=f"{name} {item}",
                            price=price,
                            quantity=int(rng.integers(1, 6)),
                            customer=f"{start[:7]}-{c:03d}",
                            date=f"{day} 10:00",
                        )
                    )
    return lines


SETTINGS = (
    CleaningRules(),
    {"ks": range(3, 11), "min_count": 13, "tolerance": 0.005, "random_state": 42},
    {"ks": range(4, 13), "random_state": 42},
    42,
)
"""Rules, product-category and interest-group settings, and the models' random_state."""


def logs(con, lines: list[dict]) -> tuple:
    """The raw log of `lines` and its clean table, as the assets hand them over."""
    raw = raw_table(con, lines)
    return raw, cleaning.clean_transactions(raw, SETTINGS[0]).table


def test_nothing_on_or_after_the_cut_off_is_used_for_fitting(con):
    result = evaluate_interest_models(*logs(con, interest_log()), dt.date(2011, 10, 1), *SETTINGS)
    # a fitted customer's later orders, and a cancellation of an early one, change nothing fitted
    later = [
        line(
            invoice=f"L{i}",
            stock="1000",
            description="TABLE LAMP 0",
            price=15.0,
            quantity=50,
            customer="2011-03-000",
            date="2011-11-02 10:00",
        )
        for i in range(5)
    ]
    later.append(
        line(
            invoice="C9",
            stock="1000",
            quantity=-1,
            customer="2011-03-000",
            date="2011-11-03 10:00",
            price=15.0,
            description="TABLE LAMP 0",
        )
    )
    changed = evaluate_interest_models(
        *logs(con, interest_log() + later), dt.date(2011, 10, 1), *SETTINGS
    )
    fitted = ["model", "cv_accuracy", "holdout_accuracy"]
    assert changed.scores[fitted].equals(result.scores[fitted])
    assert changed.group_names == result.group_names
    assert result.fitted_customers == 90
    assert result.later_customers == 30
    scores = result.scores.set_index("model")
    assert set(scores.index) == {
        "logistic_regression",
        "k_nearest_neighbours",
        "random_forest",
        "gradient_boosting",
        "soft_voting",
    }
    assert scores["later_accuracy"].between(0, 1).all()
    # the kept model is the best by cross-validation (the soft vote has no score of its own)
    assert result.kept_name == scores["cv_accuracy"].idxmax()
    assert scores["cv_accuracy"].isna().tolist() == (scores.index == "soft_voting").tolist()
    assert result.features[0] == "basket_mean"


def test_without_a_later_period_there_is_nothing_to_test_on(con):
    with pytest.raises(NotEnoughData, match="no transactions on or after 2011-10-01"):
        evaluate_interest_models(
            *logs(con, interest_log(after=False)), dt.date(2011, 10, 1), *SETTINGS
        )


def test_soft_vote_predicts_what_scikit_learns_soft_voting_predicts():
    from sklearn.ensemble import RandomForestClassifier, VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from rfm_pipeline.core.evaluation import SoftVote

    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 3))
    y = np.array([3, 5, 9])[(x[:, 0] + rng.normal(0, 0.7, 300) > 0).astype(int) + (x[:, 1] > 0.8)]
    models = [
        LogisticRegression(),
        KNeighborsClassifier(15),
        RandomForestClassifier(50, random_state=0),
    ]
    voting = VotingClassifier([(str(i), m) for i, m in enumerate(models)], voting="soft")
    later = rng.normal(size=(500, 3))
    expected = voting.fit(x, y).predict(later)
    assert set(expected) == {3, 5, 9}
    np.testing.assert_array_equal(SoftVote([m.fit(x, y) for m in models]).predict(later), expected)
