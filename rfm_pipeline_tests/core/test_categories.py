"""Keywords, price bands, product categories and customer interest features on hand-made data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rfm_pipeline.core.categories import categorise, keywords, product_matrix, words
from rfm_pipeline.core.errors import NotEnoughData
from rfm_pipeline.core.interests import customer_features, interest_groups
from rfm_pipeline_tests.conftest import line, raw_table


def test_words_drop_stop_words_colours_and_short_tokens_and_stem():
    found = words("SET OF 3 PINK HEARTS, a red Heart and the BAGS")
    assert found == [("set", "set"), ("heart", "hearts"), ("heart", "heart"), ("bag", "bags")]
    assert words(None) == []


def test_keywords_kept_by_product_count_and_named_by_their_commonest_word():
    descriptions = ["JUMBO BAG HEARTS", "JUMBO BAG RED", "HEART BAG", "HEARTS LANTERN", None]
    found = keywords(descriptions, min_count=2)
    assert found.stems == ["bag", "heart", "jumbo"]
    assert found.names == {"bag": "bag", "heart": "hearts", "jumbo": "jumbo"}
    assert found.counts["bag"] == 3
    assert found.candidates == 4


@pytest.mark.parametrize(
    ("price", "band"),
    [(0.0, 0), (0.99, 0), (1.0, 1), (2.5, 2), (3.0, 3), (9.99, 4), (10.0, 5), (250.0, 5)],
)
def test_price_bands_at_their_edges(price, band):
    matrix = product_matrix(pd.DataFrame({"description": ["x"], "unit_price": [price]}), [])
    assert matrix.shape == (1, 6)
    assert matrix[0].tolist() == [1.0 if i == band else 0.0 for i in range(6)]


def catalogue() -> pd.DataFrame:
    """Thirty cheap card products and thirty dear lamp products."""
    rows = [(f"1{i:03d}", f"CHRISTMAS CARD SET {i}", 0.5) for i in range(30)]
    rows += [(f"2{i:03d}", f"TABLE LAMP SHADE {i}", 12.0) for i in range(30)]
    return pd.DataFrame(rows, columns=["stock_code", "description", "unit_price"])


def test_categories_recover_the_groups_and_are_named_by_keywords():
    result = categorise(catalogue(), ks=[2, 3], min_count=5)
    table = result.table.set_index("stock_code")
    assert table.loc["1000", "category_id"] == 0  # ids ascend with mean price
    assert table.loc["2000", "category_id"] == 1
    assert table.groupby(table.index.str[0])["category_id"].nunique().max() == 1
    assert set(table.loc["1000", "category_name"].split(" / ")) <= {"christmas", "card", "set"}
    assert "lamp" in table.loc["2000", "category_name"]
    assert result.model.predict(product_matrix(catalogue(), result.keywords.stems))[0] == 0


def test_too_few_products_is_not_enough_data():
    with pytest.raises(NotEnoughData, match="too few products"):
        categorise(catalogue().head(2), ks=[3])


def test_interest_features_are_spend_shares_and_basket_statistics(con):
    lines = [
        line(invoice="1", stock="1000", quantity=1, price=30.0, customer="A"),
        line(invoice="1", stock="2000", quantity=1, price=10.0, customer="A"),
        line(invoice="2", stock="2000", quantity=2, price=5.0, customer="A"),
        line(invoice="3", stock="1000", quantity=4, price=1.0, customer="B"),
    ]
    table = raw_table(con, lines).mutate(total_price=lambda t: t.quantity * t.unit_price)
    categories = pd.DataFrame({"stock_code": ["1000", "2000"], "category_id": [0, 1]})
    features = customer_features(table, categories, 2).set_index("customer_id")
    assert features.loc["A", "invoices"] == 2
    assert features.loc["A", "basket_min"] == 10.0
    assert features.loc["A", "basket_max"] == 40.0
    assert features.loc["A", "basket_mean"] == 25.0
    assert features.loc["A", "share_0"] == pytest.approx(0.6)
    assert features.loc["A", "share_1"] == pytest.approx(0.4)
    assert features.loc["B", ["share_0", "share_1"]].tolist() == [1.0, 0.0]
    # a third category no one bought (a later period's products may miss one): a zero share
    wider = customer_features(table, categories, 3).set_index("customer_id")
    assert wider["share_2"].tolist() == [0.0, 0.0]


def test_interest_groups_are_named_by_their_dominant_category_and_basket():
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        cards = i < 20
        share = 0.9 if cards else 0.1
        rows.append(
            {
                "customer_id": f"{i:03d}",
                "invoices": int(rng.integers(1, 5)),
                "basket_min": 10.0,
                "basket_max": 30.0,
                "basket_mean": (20.0 if cards else 500.0) + rng.normal(0, 1),
                "share_0": share,
                "share_1": 1 - share,
            }
        )
    groups = interest_groups(pd.DataFrame(rows), {0: "card", 1: "lamp"}, ks=[2, 3])
    names = groups.table.set_index("customer_id")["group_name"]
    assert names["000"] == "card buyers, small baskets"
    assert names["039"] == "lamp buyers, large baskets"
    assert groups.sweep["chosen"].sum() == 1
