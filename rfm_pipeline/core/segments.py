"""The segmentation the business uses: the kept solutions of every space compared, one chosen
(by the documented rule, or config), every customer given its segment, name and strategy; and
what each segment looks like (profiles, standardised means, min-max means for the radar).

Every space's sweep keeps, per algorithm, the solution with the best silhouette among those
whose smallest segment holds at least `min_share` of customers. Among all kept solutions of all
spaces, the default is the preferred one with the highest silhouette (ties: the earlier space in
pca, umap, tsne, then the earlier algorithm). Preferred: eligible (the minimum share) and at
least as predictive of the next quarter as the 11-cell RFM grid in the value backtest, on both
its figures (AUC for buying, explained spend; means over the cut-offs). Silhouettes of different
embeddings are not strictly comparable; the rule is simple and stated, and config can pick any
space and algorithm. Week after week, last week's choice (and each algorithm's k) stays while
it is preferred and its silhouette is within a tolerance of the best, so segments do not change
for a hair's difference."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rfm_pipeline.core.naming import name_segments
from rfm_pipeline.core.rfm import RFM_COLUMNS
from rfm_pipeline.core.spaces import SPACES
from rfm_pipeline.core.value import value_columns

COMPARISON_COLUMNS = ["embedding", "algorithm", "k", "silhouette", "calinski_harabasz",
                      "davies_bouldin", "min_share", "eligible", "auc", "explained_spend",
                      "predictive", "preferred"]  # fmt: skip

REFERENCE = "RFM grid (11 cells)"
"""The segmentation every chosen one must at least match in the value backtest."""

RULE = (
    "highest silhouette among the kept solutions of every embedding whose smallest segment holds"
    " at least the minimum share of customers and that predict the next quarter at least as well"
    " as the 11-cell RFM grid (AUC and explained spend in the value backtest)"
)


def comparison(
    sweeps: Mapping[str, pd.DataFrame], backtest: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every space's kept solutions, one row per (embedding, algorithm), preferred first, with
    their backtest figures (means over the cut-offs of `value_backtest`'s rows named
    "<embedding>/<algorithm>"); without a backtest every eligible solution is preferred."""
    rows = [
        sweep[sweep["kept"]].assign(embedding=space)
        for space, sweep in sweeps.items()
        if not sweep.empty
    ]
    if not rows:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = pd.concat(rows, ignore_index=True)
    means = _backtest_means(backtest)
    names = table["embedding"] + "/" + table["algorithm"]
    table["auc"] = names.map(means["auc"]).astype("float64")
    table["explained_spend"] = names.map(means["r2"]).astype("float64")
    if REFERENCE in means.index:
        reference = means.loc[REFERENCE]
        table["predictive"] = (table["auc"] >= reference["auc"]) & (
            table["explained_spend"] >= reference["r2"]
        )
    else:
        table["predictive"] = True
    table["preferred"] = table["eligible"] & table["predictive"]
    table["space_order"] = table["embedding"].map(SPACES.index)
    table = table.sort_values(
        ["preferred", "eligible", "silhouette", "space_order"],
        ascending=[False, False, False, True], kind="stable",
    )  # fmt: skip
    return table[COMPARISON_COLUMNS].reset_index(drop=True)


def _backtest_means(backtest: pd.DataFrame | None) -> pd.DataFrame:
    """Mean AUC and R² per row name of a value backtest (empty without one)."""
    if backtest is None or backtest.empty:
        return pd.DataFrame(columns=["auc", "r2"], dtype="float64")
    return backtest.groupby("model")[["auc", "r2"]].mean()


def choose(
    kept: pd.DataFrame,
    embedding: str | None = None,
    algorithm: str | None = None,
    previous: tuple[str, str] | None = None,
    tolerance: float = 0.0,
) -> tuple[str, str]:
    """(embedding, algorithm): the configured one, else the first row of `comparison`, or
    last week's (`previous`) while it is preferred and within `tolerance` of that row's
    silhouette, so the segments do not change for a hair's difference. Without any kept
    solution (too few customers: every space made one segment) it is one segment."""
    if kept.empty:
        return embedding or "pca", "single"
    candidates = kept
    if embedding:
        candidates = candidates[candidates["embedding"] == embedding]
    if algorithm:
        candidates = candidates[candidates["algorithm"] == algorithm]
    if candidates.empty:
        wanted = "/".join(x for x in (embedding, algorithm) if x)
        raise ValueError(f"no kept segmentation for {wanted or 'any embedding'}")
    top = candidates.iloc[0]
    if previous is not None:
        same = candidates[
            (candidates["embedding"] == previous[0])
            & (candidates["algorithm"] == previous[1])
            & (candidates["preferred"] | ~top["preferred"])
            & (candidates["silhouette"] >= top["silhouette"] - tolerance)
        ]
        top = same.iloc[0] if len(same) else top
    return str(top["embedding"]), str(top["algorithm"])


def customer_segments(
    features: pd.DataFrame, segmentation: pd.DataFrame, embedding: str, algorithm: str
) -> pd.DataFrame:
    """One row per customer: the chosen segment, its name and strategy, the RFM values."""
    column = "segment_id" if algorithm == "single" else f"{algorithm}_segment"
    labels = segmentation[["customer_id", column]].rename(columns={column: "segment_id"})
    segmented = labels.merge(features[["customer_id", "is_outlier", *RFM_COLUMNS]])
    profile = profile_segments(segmented)
    names = name_segments(standardised_means(segmented), profile)
    table = segmented.merge(names[["segment_id", "segment_name", "strategy"]], on="segment_id")
    table = table.assign(embedding=embedding, algorithm=algorithm)
    table["k"] = table["segment_id"].nunique()
    columns = ["customer_id", "segment_id", "segment_name", "strategy", *RFM_COLUMNS,
               "is_outlier", "embedding", "algorithm", "k"]  # fmt: skip
    return table[columns].sort_values("customer_id", ignore_index=True)


def profile_segments(segmented: pd.DataFrame) -> pd.DataFrame:
    """Per segment: size, share, outliers, mean and median R, F, M, and share of revenue.

    `segmented` has one row per customer: `segment_id`, `is_outlier` and the RFM columns.
    """
    profile = (
        segmented.groupby("segment_id")
        .agg(
            customers=("customer_id", "size"),
            outliers=("is_outlier", "sum"),
            **{f"{c}_mean": (c, "mean") for c in RFM_COLUMNS},
            **{f"{c}_median": (c, "median") for c in RFM_COLUMNS},
            revenue=("monetary", "sum"),
        )
        .sort_index()
    )
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    profile["revenue_share"] = profile["revenue"] / profile["revenue"].sum()
    profile = profile.drop(columns="revenue").reset_index()
    profile["outliers"] = profile["outliers"].astype("int64")
    return profile


def standardised_means(segmented: pd.DataFrame) -> pd.DataFrame:
    """Each segment's mean R, F, M in standard deviations from the mean of all customers."""
    values = segmented[list(RFM_COLUMNS)]
    z = (values - values.mean()) / values.std(ddof=0).replace(0, 1)
    return z.groupby(segmented["segment_id"]).mean().sort_index()


def profile_means(profile: pd.DataFrame) -> pd.DataFrame:
    """Mean R, F, M per segment (index: segment id), named as the measures."""
    means = profile.set_index("segment_id")[[f"{c}_mean" for c in RFM_COLUMNS]]
    return means.set_axis(list(RFM_COLUMNS), axis=1)


def named_profiles(segmented: pd.DataFrame) -> pd.DataFrame:
    """`profile_segments` with each segment's name and strategy, by segment id."""
    named = segmented[["segment_id", "segment_name", "strategy"]].drop_duplicates()
    profile = profile_segments(segmented)
    return named.merge(profile, on="segment_id").sort_values("segment_id", ignore_index=True)


def every_solution(sweeps: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every (embedding, algorithm, k) scored in every space, embedding first."""
    solved = [sweep.assign(embedding=space) for space, sweep in sweeps.items() if not sweep.empty]
    if not solved:
        return pd.DataFrame(columns=["embedding"])
    every = pd.concat(solved, ignore_index=True)
    return every[["embedding", *[c for c in every.columns if c != "embedding"]]]


def with_value(profile: pd.DataFrame, segmented: pd.DataFrame, value: pd.DataFrame) -> pd.DataFrame:
    """`profile` with each segment's forecast from `customer_value`: expected spend and
    discounted value summed, its share of the expected spend, and the share of its customers
    likely to buy within the horizon (the mean probability)."""
    p_active, spend, clv = value_columns(value)
    joined = segmented[["customer_id", "segment_id"]].merge(
        value[["customer_id", p_active, spend, clv]], on="customer_id", how="left"
    )
    per_segment = joined.groupby("segment_id").agg(
        **{spend: (spend, lambda s: s.sum(min_count=1)), clv: (clv, lambda s: s.sum(min_count=1))},
        likely_active_share=(p_active, "mean"),
    )
    per_segment["expected_revenue_share"] = per_segment[spend] / per_segment[spend].sum()
    return profile.merge(per_segment.reset_index(), on="segment_id", how="left")
