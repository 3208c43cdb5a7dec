"""The segmentation the business uses: the kept solutions of every space compared, one chosen
(by the documented rule, or config), every customer given its segment, name and strategy; and
what each segment looks like (profiles, standardised means, min-max means for the radar).

Every space's sweep keeps, per algorithm, the solution with the best silhouette among those
whose smallest segment holds at least `min_share` of customers. Among all kept solutions of all
spaces, the default is the eligible one with the highest silhouette (ties: the earlier space in
pca, umap, tsne, then the earlier algorithm). Silhouettes of different embeddings are not
strictly comparable; the rule is simple and stated, and config can pick any space and algorithm.
Week after week, last week's choice (and each algorithm's k) stays while its silhouette is
within a tolerance of the best, so segments do not change for a hair's difference."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from rfm_pipeline.core.naming import name_segments
from rfm_pipeline.core.rfm import RFM_COLUMNS
from rfm_pipeline.core.spaces import SPACES

COMPARISON_COLUMNS = ["embedding", "algorithm", "k", "silhouette", "calinski_harabasz",
                      "davies_bouldin", "min_share", "eligible"]  # fmt: skip


RULE = (
    "highest silhouette among the kept solutions of every embedding whose smallest segment holds"
    " at least the minimum share of customers"
)


def comparison(sweeps: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every space's kept solutions, one row per (embedding, algorithm), best first."""
    rows = [
        sweep[sweep["kept"]].assign(embedding=space)
        for space, sweep in sweeps.items()
        if not sweep.empty
    ]
    if not rows:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    table = pd.concat(rows, ignore_index=True)
    table["space_order"] = table["embedding"].map(SPACES.index)
    table = table.sort_values(
        ["eligible", "silhouette", "space_order"], ascending=[False, False, True], kind="stable"
    )
    return table[COMPARISON_COLUMNS].reset_index(drop=True)


def choose(
    kept: pd.DataFrame,
    embedding: str | None = None,
    algorithm: str | None = None,
    previous: tuple[str, str] | None = None,
    tolerance: float = 0.0,
) -> tuple[str, str]:
    """(embedding, algorithm): the configured one, else the first row of `comparison`, or
    last week's (`previous`) while it is eligible and within `tolerance` of that row's
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
            & (candidates["eligible"] | ~top["eligible"])
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
