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
A name that falls to several segments is numbered in order of value: "Stalled", "Stalled 2"."""

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


def numbered(name: str, taken: set[str] | dict[str, object]) -> str:
    """`name`, or its base numbered from 2 ("Stalled 2", "Stalled 3") if it is taken."""
    if name not in taken:
        return name
    base, number = name.rstrip(" 0123456789"), 2
    while f"{base} {number}" in taken:
        number += 1
    return f"{base} {number}"


def name_segments(z: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Name and strategy per segment id, from its profile (rules in the module docstring)."""
    engaged = engagement(z)
    if len(z) <= 3:
        names = _coarse_names(z, engaged)
    else:
        frequency = profile.set_index("segment_id")["frequency_mean"]
        names = _fine_names(z, frequency)
    return pd.DataFrame(
        {
            "segment_id": list(names),
            "segment_name": list(names.values()),
            "strategy": [STRATEGIES[name.rstrip(" 0123456789")] for name in names.values()],
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
    """Four or more segments: the study's seven names, numbered when a name repeats."""
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
    taken: set[str] = set()
    for segment in recent + lapsed:  # a repeated name is numbered in order of value
        names[segment] = numbered(names[segment], taken)
        taken.add(names[segment])
    return names
