"""What each segment looks like, what to call it and what to do about it.

Names follow documented rules on the profile, never on cluster ids. Each segment's mean
recency, frequency and monetary value is standardised against all customers (z); its
engagement is (-z_recency + z_frequency + z_monetary) / 3. The most engaged segment is
"Loyal", the least "Lost", and those between "Intermediate" (the study's vocabulary for its
three clusters); a lone segment is "All customers". With more than one segment between, each
is told apart by its most distinctive measure: "Intermediate, recent" / "lapsing",
"frequent" / "occasional", "high-spending" / "low-spending".
"""

from __future__ import annotations

import pandas as pd

from rfm_pipeline.core.rfm import RFM_COLUMNS

STRATEGIES = {
    "All customers": "Too few customers to segment: address them as one group and segment"
    " again when more have bought.",
    "Loyal": "Reward and retain: loyalty programme, early access and referrals; they bring most"
    " of the revenue, so protect the relationship before discounting.",
    "Intermediate": "Grow them: cross-sell and personalised recommendations to raise order"
    " frequency and basket value; nudge with time-limited offers.",
    "Lost": "Win back cheaply: one reactivation campaign with an incentive, then stop spending"
    " on them if they do not respond.",
}

TRAITS = {
    "recency": ("recent", "lapsing"),  # low recency is good
    "frequency": ("occasional", "frequent"),
    "monetary": ("low-spending", "high-spending"),
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


def name_segments(z: pd.DataFrame) -> pd.DataFrame:
    """Name and strategy per segment id, from its standardised means (rules in the docstring)."""
    engagement = (-z["recency"] + z["frequency"] + z["monetary"]) / 3
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
    middle = [s for s in order if names[s] == "Intermediate"]
    if len(middle) > 1:
        for segment in middle:
            measure = z.loc[segment].abs().idxmax()
            low, high = TRAITS[measure]
            names[segment] = f"Intermediate, {high if z.loc[segment, measure] > 0 else low}"
        names = _unique(names, order)
    return pd.DataFrame(
        {
            "segment_id": list(names),
            "segment_name": list(names.values()),
            "strategy": [STRATEGIES[name.split(",")[0]] for name in names.values()],
            "engagement": [float(engagement[s]) for s in names],
        }
    ).sort_values("segment_id", ignore_index=True)


def _unique(names: dict[int, str], order: list[int]) -> dict[int, str]:
    """Number repeated names in order of engagement: "X", "X 2", ..."""
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
