"""Product categories from descriptions and prices (the reference analysis's goal 3).

Each product (stock code) is described by the keywords of its description and its price band.
Keywords: lower-case words of three letters or more, English stop words and colours removed,
reduced to their stem (Snowball, whose rules ship with the package); a stem is kept when at
least `min_count` products use it. KMeans groups the products; k is chosen by silhouette,
preferring the smallest k within `tolerance` of the best (fewer categories, same quality).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import snowballstemmer
from sklearn.cluster import KMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rfm_pipeline.core.engine import exact_mean, most_common
from rfm_pipeline.core.spaces import kmeans_sweep

COLOURS = frozenset(
    {
        "pink",
        "blue",
        "green",
        "red",
        "white",
        "black",
        "orange",
        "yellow",
        "purple",
        "ivory",
        "cream",
        "gold",
        "silver",
        "grey",
        "gray",
        "brown",
        "turquoise",
        "lilac",
        "violet",
        "beige",
    }
)
PRICE_BANDS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0)
"""Lower edges of the price bands, in pounds: 0-1, 1-2, 2-3, 3-5, 5-10, above 10."""

_STEMMER = snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    """Snowball's stem of a word, worked out once per word (descriptions repeat their words)."""
    return _STEMMER.stemWord(word)


def products(clean: ir.Table) -> pd.DataFrame:
    """One row per stock code: its most common description (ties: the first in sort order)
    and mean unit price."""
    prices = clean.group_by("stock_code").aggregate(unit_price=exact_mean(clean.unit_price))
    names = most_common(clean, "stock_code", "description")
    table = prices.left_join(names, "stock_code").select("stock_code", "description", "unit_price")
    return table.order_by("stock_code").execute()


def words(description: str | None) -> list[tuple[str, str]]:
    """(stem, word) for each kept word of a description."""
    tokens = re.findall(r"[a-z]+", (description or "").lower())
    kept = [t for t in tokens if len(t) >= 3 and t not in ENGLISH_STOP_WORDS and t not in COLOURS]
    return [(stem(t), t) for t in kept]


@dataclass
class Keywords:
    """The kept stems, each with the word that names it and how many products use it."""

    stems: list[str]
    names: dict[str, str]
    counts: dict[str, int]
    candidates: int  # distinct stems before the count threshold


def keywords(descriptions: Sequence[str | None], min_count: int = 13) -> Keywords:
    """Stems used by at least `min_count` products, named by their most common word."""
    per_product = [words(d) for d in descriptions]
    counts = Counter(stem for found in per_product for stem in {s for s, _ in found})
    spelled = Counter(pair for found in per_product for pair in found)
    names: dict[str, str] = {}
    for (stem, word), _ in sorted(spelled.items(), key=lambda item: (-item[1], item[0])):
        names.setdefault(stem, word)
    stems = sorted(s for s, n in counts.items() if n >= min_count)
    return Keywords(stems, {s: names[s] for s in stems}, {s: counts[s] for s in stems}, len(counts))


def product_matrix(table: pd.DataFrame, stems: Sequence[str]) -> np.ndarray:
    """One-hot keywords of each product's description, then its price band."""
    index = {s: i for i, s in enumerate(stems)}
    matrix = np.zeros((len(table), len(stems) + len(PRICE_BANDS)), dtype="float64")
    for row, description in enumerate(table["description"]):
        for stem, _ in words(description):
            if stem in index:
                matrix[row, index[stem]] = 1.0
    band = np.searchsorted(PRICE_BANDS, table["unit_price"].to_numpy(), side="right") - 1
    matrix[np.arange(len(table)), len(stems) + np.clip(band, 0, len(PRICE_BANDS) - 1)] = 1.0
    return matrix


@dataclass
class ProductCategories:
    """Each product's category, the sweep that chose k, and what each category is about."""

    table: pd.DataFrame  # stock_code, description, unit_price, category_id, category_name
    sweep: pd.DataFrame  # k, silhouette, chosen
    keywords: Keywords
    top_keywords: pd.DataFrame  # category_id, keyword, share, lift
    model: KMeans


def categorise(
    table: pd.DataFrame,
    ks: Sequence[int] = range(3, 11),
    min_count: int = 13,
    tolerance: float = 0.005,
    random_state: int = 42,
) -> ProductCategories:
    """KMeans over keyword and price-band vectors; categories named by their keywords.

    Category ids ascend with the mean price of their products, so the same data gives the
    same ids.
    """
    table = table.sort_values("stock_code").reset_index(drop=True)
    found = keywords(table["description"].tolist(), min_count)
    matrix = product_matrix(table, found.stems)
    sweep, model = kmeans_sweep(matrix, ks, random_state, tolerance, what="products")
    k = model.n_clusters
    prices = table["unit_price"].to_numpy()
    means = [prices[model.labels_ == c].mean() for c in range(k)]
    order = {int(c): i for i, c in enumerate(np.argsort(means, kind="stable"))}
    labels = np.array([order[int(c)] for c in model.labels_])
    top = top_keywords(matrix[:, : len(found.stems)], labels, found)
    names = category_names(top, k)
    table = table.assign(category_id=labels, category_name=[names[c] for c in labels])
    return ProductCategories(table, sweep, found, top, _reordered(model, order))


def top_keywords(
    onehot: np.ndarray, labels: np.ndarray, found: Keywords, n: int = 5
) -> pd.DataFrame:
    """Per category, the keywords most over-represented in it (share in it minus share overall)."""
    overall = onehot.mean(axis=0)
    rows = []
    for category in np.unique(labels):
        share = onehot[labels == category].mean(axis=0)
        for i in np.argsort(-(share - overall), kind="stable")[:n]:
            if share[i] > 0:
                lift = float(share[i] / overall[i]) if overall[i] else 0.0
                rows.append(
                    {
                        "category_id": int(category),
                        "keyword": found.names[found.stems[i]],
                        "share": float(share[i]),
                        "lift": lift,
                    }
                )
    return pd.DataFrame(rows, columns=["category_id", "keyword", "share", "lift"])


def names_by_id(table: pd.DataFrame) -> dict[int, str]:
    """Category id -> name, from a table of categorised products."""
    pairs = table[["category_id", "category_name"]].drop_duplicates()
    return dict(zip(pairs["category_id"].astype(int), pairs["category_name"], strict=True))


def category_names(top: pd.DataFrame, k: int) -> dict[int, str]:
    """ "word / word / word" from each category's three most characteristic keywords."""
    names = {}
    for category in range(k):
        words_ = top.loc[top["category_id"] == category, "keyword"].head(3).tolist()
        names[category] = " / ".join(words_) if words_ else f"category {category}"
    return names


def _reordered(model: KMeans, order: dict[int, int]) -> KMeans:
    """The model with its clusters renumbered to the category ids, so `predict` gives ids."""
    inverse = [c for c, _ in sorted(order.items(), key=lambda item: item[1])]
    model.cluster_centers_ = model.cluster_centers_[inverse]
    model.labels_ = np.array([order[int(c)] for c in model.labels_])
    return model
