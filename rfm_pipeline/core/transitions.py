"""Segments across weeks: who is who from one week to the next, and who moved where.

Each week's segmentation is fitted afresh, so its ids mean nothing by themselves. A segment's
place is its centroid: the mean recency, frequency and monetary value of its customers (outliers
left out, as in the fit), standardised with this week's mean and standard deviation. This
week's centroids are matched one to one with last week's by the Hungarian method (least total
distance); a pair closer than `max_distance` is the same segment, which keeps last week's id,
name and strategy. A segment left without a partner is new (it gets an unused id and its rule
name) or, from last week, vanished.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from rfm_pipeline.core.naming import admissible, apart, engagement, likely_p_active
from rfm_pipeline.core.rfm import RFM_COLUMNS

MAX_DISTANCE = 1.0
"""Farthest apart (in standard deviations) two centroids can be and still be one segment."""

NEW, GONE = "(new customer)", "(no longer a customer)"
"""The transition labels of customers only one of the two weeks has."""


REGISTRY_COLUMNS = [
    "segment_id",
    "segment_name",
    "strategy",
    "first_week",
    "last_week",
    "customers",
    *RFM_COLUMNS,
    "embedding",
    "algorithm",
]
"""`segment_registry`: every segment id ever used, its name and strategy, the weeks it was seen,
its customers this week (0 once gone) and the mean R, F and M of its last week."""


def standardiser(segmented: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """This week's mean and standard deviation of R, F and M over the fitted customers."""
    fitted = _fitted(segmented)[list(RFM_COLUMNS)]
    return fitted.mean(), fitted.std(ddof=0).replace(0, 1).fillna(1)


def segment_means(segmented: pd.DataFrame) -> pd.DataFrame:
    """Each segment's mean R, F and M over its fitted customers (index: segment id); a segment
    of outliers only, over all of its customers."""
    fitted = _fitted(segmented)
    missing = sorted(set(segmented["segment_id"]) - set(fitted["segment_id"]))
    every = pd.concat([fitted, segmented[segmented["segment_id"].isin(missing)]])
    return every.groupby("segment_id")[list(RFM_COLUMNS)].mean()


def centroids(segmented: pd.DataFrame, mean: pd.Series, std: pd.Series) -> pd.DataFrame:
    """Each segment's standardised mean R, F and M (index: segment id)."""
    return (segment_means(segmented) - mean) / std


def _fitted(segmented: pd.DataFrame) -> pd.DataFrame:
    """The customers the clustering was fitted on (all of them if every one is an outlier)."""
    fitted = segmented[~segmented["is_outlier"].astype(bool)]
    return fitted if len(fitted) else segmented


@dataclass(frozen=True)
class Matching:
    """This week's segment ids paired with last week's."""

    pairs: dict[int, int]  # this week's id -> last week's id
    distances: dict[int, float]  # this week's id -> distance to its partner
    new: list[int]  # this week's ids without a partner
    vanished: list[int]  # last week's ids without a partner


def match_segments(
    previous: pd.DataFrame, current: pd.DataFrame, max_distance: float = MAX_DISTANCE
) -> Matching:
    """Pair the centroids of this week (`current`) with last week's (`previous`)."""
    pairs: dict[int, int] = {}
    distances: dict[int, float] = {}
    if len(previous) and len(current):
        cost = cdist(current.to_numpy(dtype="float64"), previous.to_numpy(dtype="float64"))
        for row, column in zip(*linear_sum_assignment(cost), strict=True):
            if cost[row, column] <= max_distance:
                pairs[int(current.index[row])] = int(previous.index[column])
                distances[int(current.index[row])] = float(cost[row, column])
    new = [int(s) for s in current.index if int(s) not in pairs]
    vanished = [int(s) for s in previous.index if int(s) not in pairs.values()]
    return Matching(pairs, distances, new, vanished)


@dataclass(frozen=True)
class CarriedOver:
    """This week's segments relabelled with last week's identities, and what happened."""

    table: pd.DataFrame  # `customer_segments` with carried-over ids, names and strategies
    segments: pd.DataFrame  # one row per segment of either week: status kept / new / vanished
    registry: pd.DataFrame  # `segment_registry` as of this week


def empty_registry() -> pd.DataFrame:
    """A registry before the first week: no segment yet."""
    types = {"segment_id": "int64", "customers": "int64"} | {c: "float64" for c in RFM_COLUMNS}
    return pd.DataFrame({c: pd.Series(dtype=types.get(c, "str")) for c in REGISTRY_COLUMNS})


def last_choice(registry: pd.DataFrame | None) -> tuple[str, str] | None:
    """The (embedding, algorithm) behind the registry week's segments; None without any."""
    present = registry[registry["customers"] > 0] if registry is not None else []
    return tuple(present[["embedding", "algorithm"]].iloc[0]) if len(present) else None


def carry_over(
    current: pd.DataFrame,
    registry: pd.DataFrame | None,
    week: str,
    max_distance: float = MAX_DISTANCE,
    facts: pd.DataFrame | None = None,
) -> CarriedOver:
    """Give this week's segments last week's ids, names and strategies where they match.

    `current` is `customer_segments` (`segment_id`, `segment_name`, `strategy`, `is_outlier`,
    the RFM columns, `embedding`, `algorithm` per customer); `registry` is last week's
    `segment_registry` (None before the first week). A new segment gets an id no earlier week
    used and its rule name, told apart from a kept segment that already has it (`apart`). With
    this week's `naming.segment_facts`, a kept segment whose name is no longer true keeps its
    id and takes its rule name, as a new one does.
    """
    registry = empty_registry() if registry is None else registry
    labels = _labels(current)
    previous = registry[registry["customers"] > 0].set_index("segment_id")
    mean, std = standardiser(current)
    before, now = (previous[list(RFM_COLUMNS)] - mean) / std, centroids(current, mean, std)
    matching = match_segments(before, now, max_distance)
    likely = np.nan if facts is None else likely_p_active(labels["segment_name"].to_dict(), facts)
    renamed = {
        s: (p, *previous.loc[p, ["segment_name", "strategy"]])
        for s, p in matching.pairs.items()
        if facts is None or admissible(previous.loc[p, "segment_name"], facts.loc[s], likely)
    }
    holders = {name: now.loc[s] for s, (_, name, _) in renamed.items()}
    next_id = int(registry["segment_id"].max()) + 1 if len(registry) else 0
    for segment in sorted(set(labels.index) - set(renamed)):
        name = str(labels.loc[segment, "segment_name"])
        if name in holders:
            name = apart(name, now.loc[segment], holders[name], set(holders))
        holders[name] = now.loc[segment]
        if segment in matching.pairs:
            renamed[segment] = (matching.pairs[segment], name, labels.loc[segment, "strategy"])
        else:
            renamed[segment] = (next_id, name, labels.loc[segment, "strategy"])
            next_id += 1
    mapping = pd.DataFrame.from_dict(
        renamed, orient="index", columns=["segment_id", "segment_name", "strategy"]
    )
    table = current.drop(columns=["segment_name", "strategy"]).assign(
        segment_id=current["segment_id"].map(mapping["segment_id"]).astype("int64")
    )
    table = table.merge(mapping, on="segment_id")[current.columns].sort_values(
        "customer_id", ignore_index=True
    )
    kept = mapping.assign(
        status=["kept" if s in matching.pairs else "new" for s in mapping.index],
        distance=[matching.distances.get(s, np.nan) for s in mapping.index],
        customers=labels["customers"],
        previous_customers=[
            int(previous.loc[matching.pairs[s], "customers"]) if s in matching.pairs else 0
            for s in mapping.index
        ],
    )
    gone = (
        previous.loc[matching.vanished, ["segment_name", "customers"]]
        .rename(columns={"customers": "previous_customers"})
        .assign(status="vanished", distance=np.nan, customers=0)
    )
    segments = pd.concat([kept, gone.reset_index()], ignore_index=True)
    columns = [
        "segment_id",
        "segment_name",
        "status",
        "distance",
        "previous_customers",
        "customers",
    ]
    segments = segments.sort_values("segment_id", ignore_index=True)[columns]
    return CarriedOver(table, segments, register(registry, table, week))


def register(registry: pd.DataFrame, table: pd.DataFrame, week: str) -> pd.DataFrame:
    """The registry with this week's segments: seen now, or kept with no customers."""
    means = segment_means(table)
    now = _labels(table).join(means).reset_index()
    now["embedding"], now["algorithm"] = table["embedding"].iloc[0], table["algorithm"].iloc[0]
    first = dict(zip(registry["segment_id"], registry["first_week"], strict=True))
    now["first_week"] = [first.get(s, week) for s in now["segment_id"]]
    now["last_week"] = week
    earlier = registry[~registry["segment_id"].isin(now["segment_id"])].assign(customers=0)
    every = pd.concat([earlier, now[REGISTRY_COLUMNS]] if len(earlier) else [now[REGISTRY_COLUMNS]])
    return every.astype({"segment_id": "int64", "customers": "int64"}).sort_values(
        "segment_id", ignore_index=True
    )[REGISTRY_COLUMNS]


def _labels(segmented: pd.DataFrame) -> pd.DataFrame:
    """Name, strategy and size per segment id."""
    return segmented.groupby("segment_id").agg(
        segment_name=("segment_name", "first"),
        strategy=("strategy", "first"),
        customers=("customer_id", "size"),
    )


def transitions(previous: pd.DataFrame | None, current: pd.DataFrame) -> pd.DataFrame:
    """One row per customer of either week: last week's segment, this week's, and the move.

    `movement` is `same`, `up` or `down` (to a segment of higher or lower engagement, its
    centroid standardised with this week's spread), `new` (first seen this week) or `gone`.
    """
    previous = current.iloc[:0] if previous is None else previous
    mean, std = standardiser(current)
    score = pd.concat(
        [engagement(centroids(previous, mean, std)), engagement(centroids(current, mean, std))]
    )
    score = score[~score.index.duplicated(keep="last")]  # a kept id: this week's place
    columns = ["customer_id", "segment_id", "segment_name"]
    moves = previous[columns].merge(
        current[columns], on="customer_id", how="outer", suffixes=("_previous", "")
    )
    moves = moves.rename(
        columns={
            "segment_id_previous": "previous_segment_id",
            "segment_name_previous": "previous_segment_name",
        }
    )
    for column in ("previous_segment_id", "segment_id"):
        moves[column] = moves[column].astype("Int64")
    before = moves["previous_segment_id"].map(score)
    after = moves["segment_id"].map(score)
    conditions = [
        moves["previous_segment_id"].isna(),
        moves["segment_id"].isna(),
        moves["previous_segment_id"] == moves["segment_id"],
        after > before,
    ]
    moves["movement"] = np.select(
        [c.fillna(False).to_numpy(dtype=bool) for c in conditions],
        ["new", "gone", "same", "up"],
        default="down",
    )
    moves["previous_segment_name"] = moves["previous_segment_name"].fillna(NEW)
    moves["segment_name"] = moves["segment_name"].fillna(GONE)
    return moves.sort_values("customer_id", ignore_index=True)


def transition_matrix(moves: pd.DataFrame) -> pd.DataFrame:
    """Customers from last week's segment (rows) to this week's (columns)."""
    return pd.crosstab(moves["previous_segment_name"], moves["segment_name"]).rename_axis(
        index="last week", columns="this week"
    )
