"""The interest classifier: fitted before a cut-off, tested on the customers of the later
period."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from rfm_pipeline.core import cleaning
from rfm_pipeline.core.cleaning import CleaningRules
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.interests import SoftVote, evaluate_interest_models
from rfm_pipeline_tests.conftest import line, raw_table

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
