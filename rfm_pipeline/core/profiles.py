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
A name that falls to several segments is numbered in order of value: "Stalled", "Stalled 2".
"""

from __future__ import annotations

import pandas as pd

from rfm_pipeline.core.rfm import RFM_COLUMNS

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


def name_segments(z: pd.DataFrame, profile: pd.DataFrame) -> pd.DataFrame:
    """Name and strategy per segment id, from its profile (rules in the module docstring)."""
    engagement = (-z["recency"] + z["frequency"] + z["monetary"]) / 3
    if len(z) <= 3:
        names = _coarse_names(z, engagement)
    else:
        frequency = profile.set_index("segment_id")["frequency_mean"]
        names = _fine_names(z, frequency)
    return pd.DataFrame(
        {
            "segment_id": list(names),
            "segment_name": list(names.values()),
            "strategy": [STRATEGIES[name.rstrip(" 0123456789")] for name in names.values()],
            "engagement": [float(engagement[s]) for s in names],
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
    return _unique(names, recent + lapsed)


def _unique(names: dict[int, str], order: list[int]) -> dict[int, str]:
    """Number repeated names in the given order: "X", "X 2", ..."""
    seen: dict[str, int] = {}
    for segment in order:
        base = names[segment]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            names[segment] = f"{base} {seen[base]}"
    return names


def minmax_means(profile: pd.DataFrame) -> pd.DataFrame:
    """Mean R, F, M per segment scaled to 0..1 across segments, for the radar chart."""
    means = profile.set_index("segment_id")[[f"{c}_mean" for c in RFM_COLUMNS]]
    spread = (means.max() - means.min()).replace(0, 1)
    scaled = (means - means.min()) / spread
    scaled.columns = list(RFM_COLUMNS)
    return scaled
