"""What each segment looks like, what to call it and what to do about it.

Names follow documented rules on the profile, never on cluster ids. Each segment's mean
recency, frequency and monetary value is standardised against all customers (z).

Up to three segments (the study's RFM I vocabulary): engagement is
(-z_recency + z_frequency + z_monetary) / 3; the most engaged segment is "Loyal", the least
"Lost", the one between "Intermediate"; a lone segment is "All customers".

Four or more (the study's RFM II vocabulary): a segment is recent when its mean recency is
below the mean of all customers (z_recency < 0), lapsed otherwise; its value is
z_frequency + z_monetary.
- Recent segments, by value: the first is "Loyal", the second "Promising", the others
  "Stalled"; the last is "Newcomers" instead when its members average under 1.5 invoices.
- Lapsed segments: the most valuable is "At risk"; of the rest, the longest gone is "Lost"
  and the others "Dormant" (a lone lapsed segment is "At risk" if its value is above average,
  else "Lost").
Segments that share a name are told apart by the measure in which they differ most: each gets
that measure's word for where it stands among them ("Stalled, frequent" and "Stalled,
occasional"); if some still share a name, the next measure adds a word, and so on."""

from __future__ import annotations

import pandas as pd

NEWCOMER_INVOICES = 1.5
"""Below this mean number of invoices a recent, low-value segment is mostly first-time buyers."""


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


def name_segments(z: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Name and strategy per segment id, from its profile (rules in the module docstring)."""
    engaged = engagement(z)
    if len(z) <= 3:
        names = _coarse_names(z, engaged)
    else:
        frequency = profile.set_index("segment_id")["frequency_mean"]
        names = _fine_names(z, frequency)
    names = told_apart(names, z)
    return pd.DataFrame(
        {
            "segment_id": list(names),
            "segment_name": list(names.values()),
            "strategy": [STRATEGIES[base_name(name)] for name in names.values()],
            "engagement": [float(engaged[s]) for s in names],
        }
    ).sort_values("segment_id", ignore_index=True)


def _coarse_names(z: pd.DataFrame, engagement: pd.Series) -> dict[int, str]:
    """Up to three segments: Loyal, Intermediate (told apart if several), Lost."""
    order = engagement.sort_values(kind="stable").index.tolist()
    names: dict[int, str] = {}
    for position, segment in enumerate(order):
        if len(order) == 1:
            names[segment] = "All customers"
        elif position == len(order) - 1:
            names[segment] = "Loyal"
        elif position == 0:
            names[segment] = "Lost"
        else:
            names[segment] = "Intermediate"
    return names


def _fine_names(z: pd.DataFrame, frequency_mean: pd.Series) -> dict[int, str]:
    """Four or more segments: the study's seven names (repeated where the rules repeat them)."""
    value = z["frequency"] + z["monetary"]
    recent = value[z["recency"] < 0].sort_values(ascending=False, kind="stable").index.tolist()
    lapsed = value[z["recency"] >= 0].sort_values(ascending=False, kind="stable").index.tolist()
    names: dict[int, str] = {}
    for position, segment in enumerate(recent):
        if position == 0:
            names[segment] = "Loyal"
        elif position == len(recent) - 1 and frequency_mean[segment] < NEWCOMER_INVOICES:
            names[segment] = "Newcomers"
        else:
            names[segment] = "Promising" if position == 1 else "Stalled"
    if len(lapsed) == 1:
        only = lapsed[0]
        names[only] = "At risk" if value[only] > 0 else "Lost"
    elif lapsed:
        names[lapsed[0]] = "At risk"
        rest = lapsed[1:]
        most_lapsed = z.loc[rest, "recency"].idxmax()
        for segment in rest:
            names[segment] = "Lost" if segment == most_lapsed else "Dormant"
    return names
