"""The segmentation the business uses: the kept solutions of every space compared, one chosen
(by the documented rule, or config), every customer given its segment, name and strategy; and
what each segment looks like (profiles, standardised means, min-max means for the radar).

Every space's sweep keeps, per algorithm, a solution whose smallest segment holds at least
`min_share` of customers: of those within its `tie_within` of the best silhouette, the one with
the fewest segments (t-SNE: the best silhouette, the study's rule). Among all kept solutions
of all spaces, the default is chosen the same way: the preferred ones within `tie_within` of
the best silhouette are tied, and the tie goes to the fewest segments, then the higher
silhouette, then the earlier space in pca, umap, tsne. Preferred: eligible (the minimum share)
and as predictive of the next quarter as the 11-cell RFM grid in the value backtest, on both its
figures (AUC for buying, explained spend; means over the cut-offs), up to their noise
(`AUC_NOISE`, `SPEND_NOISE`). No choice turns on a difference smaller than these. Where no
solution of the spaces is preferred, the forecast's value tiers are (`value.value_tiers`:
engagement bands crossed with value tiers, scored in the same backtest) if they match the grid,
else the grid itself: the segmentation chosen always predicts as well as the grid. Silhouettes of
different embeddings are not strictly comparable; the rule is simple and stated, and config can
pick any space and algorithm. Week after week, last week's choice (and each algorithm's k) stays
while it is preferred and its silhouette is within a tolerance of the best."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rfm_pipeline.core.naming import name_segments, segment_facts
from rfm_pipeline.core.plots import embedding_scatter, radar_chart, snake_plot
from rfm_pipeline.core.rfm import RFM_COLUMNS, rfm_scores
from rfm_pipeline.core.spaces import SPACE_NAMES, SPACES, stability
from rfm_pipeline.core.value import TIERS, ValueSettings, value_columns, value_tiers

COMPARISON_COLUMNS = [
    "embedding",
    "algorithm",
    "k",
    "silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "min_share",
    "eligible",
    "auc",
    "explained_spend",
    "predictive",
    "preferred",
]

REFERENCE = "RFM grid (11 cells)"
"""The segmentation every chosen one must at least match in the value backtest."""
BY_RULE = {TIERS: ("value", "tiers"), REFERENCE: ("rfm", "grid")}
"""The segmentations made by a rule, not found by clustering, as (embedding, algorithm): the
forecast's value tiers and the grid, the fallbacks when no clustering predicts well enough."""
RULED_NAMES = {
    "value": "the forecast's value tiers (engagement bands crossed with value tiers)",
    "rfm": "the 11-cell RFM grid",
}

AUC_NOISE = 0.005
"""A mean AUC this near the RFM grid's counts as matching it: a difference below it is noise."""
SPEND_NOISE = 0.005
"""The same for the share of next quarter's spend that the segments explain."""

RULE = (
    "the fewest segments among the kept solutions of every embedding within the tie tolerance of"
    " the best silhouette, counting those whose smallest segment holds at least the minimum share"
    " of customers and that predict the next quarter as well as the 11-cell RFM grid (AUC and"
    " explained spend in the value backtest, within their noise); where none does, the"
    " forecast's value tiers (engagement bands crossed with value tiers) if they do, else the"
    " grid itself"
)


def comparison(
    sweeps: Mapping[str, pd.DataFrame], backtest: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every space's kept solutions, one row per (embedding, algorithm), preferred first, with
    their backtest figures (means over the cut-offs of `value_backtest`'s rows named
    "<embedding>/<algorithm>"); then the segmentations `BY_RULE` that the backtest scored with
    their number of segments (no silhouette; the grid always preferred); without a backtest
    every eligible solution is preferred."""
    rows = [
        sweep[sweep["kept"]].assign(embedding=space)
        for space, sweep in sweeps.items()
        if not sweep.empty
    ]
    if not rows:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    means = _backtest_means(backtest)
    ruled = pd.DataFrame(
        [
            {
                "name": name,
                "embedding": embedding,
                "algorithm": algorithm,
                "eligible": True,
                "k": int(round(means.loc[name, "k"])),
            }
            for name, (embedding, algorithm) in BY_RULE.items()
            if name in means.index and "k" in means
        ],
        columns=["name", "embedding", "algorithm", "eligible", "k"],
    )
    table = pd.concat([*rows, ruled], ignore_index=True)
    names = table["name"].fillna(table["embedding"] + "/" + table["algorithm"])
    table["auc"] = names.map(means["auc"]).astype("float64")
    table["explained_spend"] = names.map(means["r2"]).astype("float64")
    if REFERENCE in means.index:
        reference = means.loc[REFERENCE]
        table["predictive"] = (table["auc"] >= reference["auc"] - AUC_NOISE) & (
            table["explained_spend"] >= reference["r2"] - SPEND_NOISE
        )
    else:
        table["predictive"] = True
    table["predictive"] |= table["embedding"] == "rfm"
    table["eligible"] = table["eligible"].astype(bool)
    table["preferred"] = table["eligible"] & table["predictive"]
    order = [*SPACES, "value", "rfm"]
    table["space_order"] = table["embedding"].map(order.index)
    table = table.sort_values(
        ["preferred", "eligible", "silhouette", "space_order"],
        ascending=[False, False, False, True],
        kind="stable",
    )
    return table[COMPARISON_COLUMNS].reset_index(drop=True)


def _backtest_means(backtest: pd.DataFrame | None) -> pd.DataFrame:
    """Mean AUC and R² per row name of a value backtest (empty without one)."""
    if backtest is None or backtest.empty:
        return pd.DataFrame(columns=["auc", "r2", "k"], dtype="float64")
    means = backtest.groupby("model")[["auc", "r2"]].mean()
    if "segments" in backtest:
        means["k"] = backtest.groupby("model")["segments"].mean()
    return means


def tied(kept: pd.DataFrame, tie_within: float) -> pd.DataFrame:
    """The rows of `comparison` tied with its first: as preferred and eligible, and within
    `tie_within` of its silhouette; the fewest segments first, then the higher silhouette."""
    top = kept.iloc[0]
    if pd.isna(top["silhouette"]):  # a segmentation by rule: tied with none
        return kept.iloc[:1]
    same = kept[
        (kept["preferred"] == top["preferred"])
        & (kept["eligible"] == top["eligible"])
        & (kept["silhouette"] >= top["silhouette"] - tie_within)
    ]
    return same.sort_values(["k", "silhouette"], ascending=[True, False], kind="stable")


def margin(kept: pd.DataFrame, tie_within: float) -> float:
    """How far the best solution outside the tie is from entering it (silhouette; NaN if none
    is as preferred): the change it would take for the choice to be another."""
    ties = tied(kept, tie_within)
    top = kept.iloc[0]
    rest = kept.drop(index=ties.index)
    rest = rest[(rest["preferred"] == top["preferred"]) & (rest["eligible"] == top["eligible"])]
    if rest.empty:
        return float("nan")
    return float(top["silhouette"] - tie_within - rest["silhouette"].max())


def passed_over(kept: pd.DataFrame, silhouette: float) -> list[str]:
    """The eligible kept solutions with a higher silhouette than `silhouette` (the chosen
    one's; NaN for a segmentation by rule: every one) left out as less predictive than the RFM
    grid, with their backtest figures."""
    rows = kept[kept["eligible"] & ~kept["predictive"] & kept["silhouette"].notna()]
    if not np.isnan(silhouette):
        rows = rows[rows["silhouette"] > silhouette]
    return [
        f"{r.embedding}/{r.algorithm} k={r.k} (silhouette {r.silhouette:.3f}): AUC {r.auc:.3f},"
        f" explained spend {r.explained_spend:.3f}"
        for r in rows.itertuples()
    ]


def choose(
    kept: pd.DataFrame,
    embedding: str | None = None,
    algorithm: str | None = None,
    previous: tuple[str, str] | None = None,
    tolerance: float = 0.0,
    tie_within: float = 0.0,
) -> tuple[str, str]:
    """(embedding, algorithm): the configured one, else the first of the solutions `tied`
    with the first row of `comparison`, or last week's (`previous`) while it is preferred and
    within `tolerance` of that row's silhouette, so the segments do not change for a hair's
    difference. Without any kept solution (too few customers: every space made one segment)
    it is one segment."""
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
    best = candidates.iloc[0]
    top = tied(candidates, tie_within).iloc[0]
    if previous is not None:
        same = candidates[
            (candidates["embedding"] == previous[0])
            & (candidates["algorithm"] == previous[1])
            & (candidates["preferred"] | ~best["preferred"])
            & (candidates["silhouette"] >= best["silhouette"] - max(tolerance, tie_within))
        ]
        top = same.iloc[0] if len(same) else top
    return str(top["embedding"]), str(top["algorithm"])


def chosen_stability(segmentation: pd.DataFrame, algorithm: str) -> float:
    """`spaces.stability` of a space's solution for `algorithm`, on the customers it was
    fitted on (NaN for one segment and a segmentation by rule)."""
    if algorithm == "single" or "x" not in segmentation:
        return float("nan")
    fitted = segmentation[~segmentation["is_outlier"] & segmentation["x"].notna()]
    labels = fitted[f"{algorithm}_segment"].to_numpy()
    k = len(np.unique(labels))
    return stability(fitted[["x", "y"]].to_numpy(), labels, algorithm, k)


def by_rule(rfm_table: pd.DataFrame, value: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The segmentations `BY_RULE` as each space's segmentation table (customer_id,
    `<algorithm>_segment`, is_outlier): the value tiers of `customer_value`'s table, and the
    RFM grid's segments numbered in order of their names."""
    grid = rfm_scores(rfm_table)[0]
    tables = {
        "rfm": pd.DataFrame(
            {
                "customer_id": grid["customer_id"],
                "grid_segment": pd.Categorical(grid["segment"]).codes.astype("int64"),
                "is_outlier": False,
            }
        )
    }
    if value is not None and "p_active" in value:
        p_active, spend, _ = value_columns(value)
        tiers = value_tiers(value[p_active].to_numpy(), value[spend].to_numpy())
        tables["value"] = pd.DataFrame(
            {
                "customer_id": value["customer_id"].to_numpy(),
                "tiers_segment": tiers,
                "is_outlier": False,
            }
        )
    return tables


def customer_segments(
    features: pd.DataFrame,
    segmentation: pd.DataFrame,
    embedding: str,
    algorithm: str,
    gap_days: float,
    value: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per customer: the chosen segment, its name and strategy, the RFM values. Names
    weigh recency against the shop's usual gap between purchases (`gap_days`) and, with
    `customer_value`'s table, the forecast (`core/naming.py`)."""
    column = "segment_id" if algorithm == "single" else f"{algorithm}_segment"
    labels = segmentation[["customer_id", column]].rename(columns={column: "segment_id"})
    segmented = labels.merge(features[["customer_id", "is_outlier", *RFM_COLUMNS]])
    facts = facts_of(segmented, gap_days, value)
    names = name_segments(standardised_means(segmented), facts)
    table = segmented.merge(names[["segment_id", "segment_name", "strategy"]], on="segment_id")
    table = table.assign(embedding=embedding, algorithm=algorithm)
    table["k"] = table["segment_id"].nunique()
    columns = [
        "customer_id",
        "segment_id",
        "segment_name",
        "strategy",
        *RFM_COLUMNS,
        "is_outlier",
        "embedding",
        "algorithm",
        "k",
    ]
    return table[columns].sort_values("customer_id", ignore_index=True)


def facts_of(
    segmented: pd.DataFrame, gap_days: float, value: pd.DataFrame | None = None
) -> pd.DataFrame:
    """`naming.segment_facts` of one row per customer with `segment_id`, recency and
    frequency, and `p_active` from `customer_value`'s table where given."""
    if value is not None and "p_active" in value:
        segmented = segmented.merge(value[["customer_id", "p_active"]], how="left")
    return segment_facts(segmented, gap_days)


def horizon_days(value: pd.DataFrame | None) -> int:
    """The forecast's horizon, from `customer_value`'s column names (the default without)."""
    columns = [] if value is None else value.columns
    spend = [c for c in columns if c.startswith("expected_spend_") and c.endswith("d")]
    if not spend:
        return ValueSettings.horizon_days
    return int(spend[0].removeprefix("expected_spend_").removesuffix("d"))


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


def profile_figures(
    profiles: pd.DataFrame, segmented: pd.DataFrame, points: Mapping[str, pd.DataFrame]
) -> dict[str, Figure]:
    """The segments drawn: the profiles' radar chart and snake plot, and the customers of each
    space in `points` that placed them, coloured by segment (`<space>_scatter`)."""
    names = dict(zip(profiles["segment_id"], profiles["segment_name"], strict=True))
    figures = {
        "segment_profiles_radar": radar_chart(
            profile_means(profiles), names, "Segment profiles (min-max scaled)"
        ),
        "segment_profiles_snake": snake_plot(standardised_means(segmented), names, "Snake plot"),
    }
    named = segmented[["customer_id", "segment_name"]]
    for space, placed in points.items():
        if placed["x"].notna().any():
            title = f"{SPACE_NAMES[space]} embedding, by segment"
            figures[f"{space}_scatter"] = embedding_scatter(placed.merge(named), title)
    return figures


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
