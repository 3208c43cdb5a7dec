"""What each segment looks like, what to call it and what to do about it.

Names follow documented rules on the profile, never on cluster ids, and each name is true in
absolute terms, not only against this shop's other customers:
- The shop's usual gap between purchases is the median, over customers who bought on two days
  or more, of the days from their first purchase to their last divided by their purchases
  after the first; with fewer than 20 such customers, or a history shorter than the forecast's
  horizon (whose gaps are cut short by its start), it is that horizon (90 days).
- A segment is lapsed when most of its customers (its median) last bought longer ago than
  that gap, and recent otherwise. Only a lapsed segment is named "Lost", "At risk", "Dormant"
  or "Stalled".
- A segment of repeat buyers is one where at least half the customers have bought more than
  once. Only such a segment is named "Loyal", "Promising" or "Stalled"; a recent segment of
  mostly first purchases is "Newcomers".
- With the forecast (`customer_value`), a segment is named "Lost" only when its customers are
  less likely to buy (mean `p_active`) than those of every segment named "Loyal" or
  "Promising"; otherwise it takes the name the rules give the lapsed segments after it.
Each segment's mean recency, frequency and monetary value is standardised against all
customers (z); its value is z_frequency + z_monetary.

Up to three segments (the study's RFM I vocabulary), by engagement,
(-z_recency + z_frequency + z_monetary) / 3: the most engaged is "Loyal" if it is recent
repeat buyers ("Newcomers" if recent first purchases), the least engaged "Lost" if it is
lapsed; every other one "Intermediate". A lone segment is "All customers".

Four or more (the study's RFM II vocabulary):
- Recent segments of repeat buyers, by value: the first is "Loyal", the others "Promising".
  Recent segments of mostly first purchases are "Newcomers".
- Lapsed segments: the most valuable is "At risk"; of the rest, the longest gone is "Lost", and
  the others "Stalled" if repeat buyers, else "Dormant" (a lone lapsed segment is "At risk" if
  its value is above average, else "Lost").
Segments that share a name are told apart by the measure in which they differ most: each gets
that measure's word for where it stands among them ("Promising, frequent" and "Promising,
occasional"); if some still share a name, the next measure adds a word, and so on.

A name, once given, stays with its segment from week to week (`carry_over`). Each week's
segmentation is fitted afresh, so its ids mean nothing by themselves. A segment's place is its
centroid: the mean recency, frequency and monetary value of its customers (outliers left out,
as in the fit), standardised with this week's mean and standard deviation. This week's
centroids are matched one to one with last week's by the Hungarian method (least total
distance); a pair closer than `max_distance` is the same segment, which keeps last week's id,
name and strategy. A segment left without a partner is new (it gets an unused id and its rule
name) or, from last week, vanished."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from rfm_pipeline.core.rfm import RFM_COLUMNS

MIN_REPEAT_BUYERS = 20
"""Fewer repeat buyers than this tell no usual gap between purchases: the horizon stands in."""

LAPSED_NAMES = ("Lost", "At risk", "Dormant", "Stalled")
REPEAT_NAMES = ("Loyal", "Promising", "Stalled")
LIKELY_NAMES = ("Loyal", "Promising")
"""Names that say a segment's customers are gone, that they buy again, that they will buy."""


STRATEGIES = {
    "All customers": "Too few customers to segment: address them as one group and segment"
    " again when more have bought.",
    "Loyal": "Reward and retain: loyalty programme, early access and referrals; they bring most"
    " of the revenue, so protect the relationship before discounting.",
    "Intermediate": "Grow them: cross-sell and personalised recommendations to raise order"
    " frequency and basket value; nudge with time-limited offers.",
    "Promising": "Nurture towards loyalty: bundles and recommendations from their purchases,"
    " and an invitation to the loyalty programme.",
    "Stalled": "Restart the habit: reminders of the products they buy and a reason to place the"
    " next order soon, such as a threshold discount.",
    "Newcomers": "Onboard: a welcome series and a second-purchase incentive while the first"
    " order is fresh.",
    "At risk": "Win back valuable customers personally: direct outreach, tailored offers, ask"
    " what changed.",
    "Dormant": "Reactivate at low cost: seasonal campaigns and new arrivals; no expensive"
    " incentives.",
    "Lost": "Win back cheaply: one reactivation campaign with an incentive, then stop spending"
    " on them if they do not respond.",
}


def engagement(z: pd.DataFrame) -> pd.Series:
    """(-recency + frequency + monetary) / 3 of standardised means: higher is better."""
    return (-z["recency"] + z["frequency"] + z["monetary"]) / 3


SCALES = {
    "recency": ("recent", "cooling", "long gone"),
    "frequency": ("occasional", "regular", "frequent"),
    "monetary": ("low-spend", "mid-spend", "high-spend"),
}
"""Words for a segment's place on each measure among the segments that share its name: the
lowest, the middle and the highest standardised mean."""


def base_name(name: str) -> str:
    """The rule name without the words that tell segments apart ("Stalled, frequent")."""
    return name.split(",")[0]


def told_apart(names: dict[int, str], z: pd.DataFrame) -> dict[int, str]:
    """`names` where no two segments share one (see the module docstring); `z` holds each
    segment's standardised mean recency, frequency and monetary value."""
    result, used = dict(names), {segment: set() for segment in names}
    for _ in SCALES:
        groups: dict[str, list[int]] = {}
        for segment, name in result.items():
            groups.setdefault(name, []).append(segment)
        for group in (g for g in groups.values() if len(g) > 1):
            spread = z.loc[group, list(SCALES)].max() - z.loc[group, list(SCALES)].min()
            measure = str(spread.drop(list(used[group[0]])).idxmax())
            rank = z.loc[group, measure].rank(method="first") - 1
            words = SCALES[measure]
            for segment in group:
                position = round(rank[segment] * (len(words) - 1) / (len(group) - 1))
                result[segment] = f"{result[segment]}, {words[position]}"
                used[segment].add(measure)
    return result


def apart(name: str, mine: pd.Series, holder: pd.Series, taken: set[str]) -> str:
    """A name for a segment whose rule name another segment (`holder`) already has: the name
    with the word for the measure in which the two differ most (then the next, while taken)."""
    gaps = (mine - holder)[list(SCALES)]
    for measure in gaps.abs().sort_values(ascending=False, kind="stable").index:
        words = SCALES[str(measure)]
        name = f"{name}, {words[-1] if gaps[measure] > 0 else words[0]}"
        if name not in taken:
            break
    return name


def usual_gap(rfm_table: pd.DataFrame, horizon_days: float) -> float:
    """The shop's usual days between purchases (module docstring), from `rfm_table`'s
    frequency, recency and tenure (days since the first purchase); `horizon_days` where too few
    customers bought on two days, or where the history is shorter than the horizon."""
    span = rfm_table["tenure_days"] - rfm_table["recency"]  # first purchase to last, in days
    repeat = (rfm_table["frequency"] >= 2) & (span > 0)
    if repeat.sum() < MIN_REPEAT_BUYERS or rfm_table["tenure_days"].max() < horizon_days:
        return float(horizon_days)
    return float((span[repeat] / (rfm_table.loc[repeat, "frequency"] - 1)).median())


def segment_facts(segmented: pd.DataFrame, gap_days: float) -> pd.DataFrame:
    """Per segment id: `lapsed` (median recency above `gap_days`), `repeat` (at least half
    bought more than once) and mean `p_active` (NaN without the forecast's column)."""
    if "p_active" not in segmented:
        segmented = segmented.assign(p_active=np.nan)
    grouped = segmented.groupby("segment_id")
    facts = pd.DataFrame(
        {
            "lapsed": grouped["recency"].median() > gap_days,
            "repeat": grouped["frequency"].agg(lambda f: (f >= 2).mean() >= 0.5),
            "p_active": grouped["p_active"].mean(),
        }
    )
    return facts.sort_index()


def admissible(name: str, facts: pd.Series, likely_p_active: float = np.nan) -> bool:
    """Whether a segment with these `segment_facts` may bear `name` (module docstring);
    `likely_p_active` is the lowest mean `p_active` of the segments named Loyal or Promising."""
    base = base_name(name)
    if base in LAPSED_NAMES and not facts["lapsed"]:
        return False
    if base in REPEAT_NAMES and not facts["repeat"]:
        return False
    if base == "Lost" and facts["p_active"] >= likely_p_active:
        return False
    return not (base == "Newcomers" and (facts["lapsed"] or facts["repeat"]))


def likely_p_active(names: dict[int, str], facts: pd.DataFrame) -> float:
    """The lowest mean `p_active` of the segments `names` calls Loyal or Promising (NaN if
    none, or without the forecast)."""
    likely = [s for s, name in names.items() if base_name(name) in LIKELY_NAMES]
    return float(facts.loc[likely, "p_active"].min()) if likely else np.nan


def name_segments(z: pd.DataFrame, facts: pd.DataFrame) -> pd.DataFrame:
    """Name and strategy per segment id, from its standardised means and `segment_facts`
    (rules in the module docstring)."""
    engaged = engagement(z)
    names = _coarse_names(z, engaged, facts) if len(z) <= 3 else _fine_names(z, facts)
    names = told_apart(names, z)
    return pd.DataFrame(
        {
            "segment_id": list(names),
            "segment_name": list(names.values()),
            "strategy": [STRATEGIES[base_name(name)] for name in names.values()],
            "engagement": [float(engaged[s]) for s in names],
        }
    ).sort_values("segment_id", ignore_index=True)


def _coarse_names(z: pd.DataFrame, engagement: pd.Series, facts: pd.DataFrame) -> dict[int, str]:
    """Up to three segments: Loyal (or Newcomers), Intermediate, Lost, where each is true."""
    order = engagement.sort_values(kind="stable").index.tolist()
    names = dict.fromkeys(order, "Intermediate")
    if len(order) == 1:
        return {order[0]: "All customers"}
    top, bottom = order[-1], order[0]
    if not facts.loc[top, "lapsed"]:
        names[top] = "Loyal" if facts.loc[top, "repeat"] else "Newcomers"
    if admissible("Lost", facts.loc[bottom], likely_p_active(names, facts)):
        names[bottom] = "Lost"
    return names


def _fine_names(z: pd.DataFrame, facts: pd.DataFrame) -> dict[int, str]:
    """Four or more segments: the study's seven names (repeated where the rules repeat them)."""
    value = (z["frequency"] + z["monetary"]).sort_values(ascending=False, kind="stable")
    lapsed = [s for s in value.index if facts.loc[s, "lapsed"]]
    recent_repeat = [s for s in value.index if s not in lapsed and facts.loc[s, "repeat"]]
    names = {s: "Newcomers" for s in value.index if s not in lapsed}
    names |= {s: "Loyal" if i == 0 else "Promising" for i, s in enumerate(recent_repeat)}
    if len(lapsed) == 1:
        names[lapsed[0]] = "At risk" if value[lapsed[0]] > 0 else "Lost"
    elif lapsed:
        names[lapsed[0]] = "At risk"
        rest = lapsed[1:]
        names |= {segment: _lapsed_name(facts.loc[segment]) for segment in rest}
        names[z.loc[rest, "recency"].idxmax()] = "Lost"
    likely = likely_p_active(names, facts)
    for segment in [s for s, name in names.items() if name == "Lost"]:
        if not admissible("Lost", facts.loc[segment], likely):
            names[segment] = _lapsed_name(facts.loc[segment])
    return names


def _lapsed_name(facts: pd.Series) -> str:
    """A lapsed segment's name short of At risk and Lost: repeat buyers stalled, else dormant."""
    return "Stalled" if facts["repeat"] else "Dormant"


MAX_DISTANCE = 1.0
"""Farthest apart (in standard deviations) two centroids can be and still be one segment."""

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
    labels = segment_labels(current)
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
    now = segment_labels(table).join(means).reset_index()
    now["embedding"], now["algorithm"] = table["embedding"].iloc[0], table["algorithm"].iloc[0]
    first = dict(zip(registry["segment_id"], registry["first_week"], strict=True))
    now["first_week"] = [first.get(s, week) for s in now["segment_id"]]
    now["last_week"] = week
    earlier = registry[~registry["segment_id"].isin(now["segment_id"])].assign(customers=0)
    every = pd.concat([earlier, now[REGISTRY_COLUMNS]] if len(earlier) else [now[REGISTRY_COLUMNS]])
    return every.astype({"segment_id": "int64", "customers": "int64"}).sort_values(
        "segment_id", ignore_index=True
    )[REGISTRY_COLUMNS]


def segment_labels(segmented: pd.DataFrame) -> pd.DataFrame:
    """Name, strategy and size per segment id."""
    return segmented.groupby("segment_id").agg(
        segment_name=("segment_name", "first"),
        strategy=("strategy", "first"),
        customers=("customer_id", "size"),
    )
