"""Recency, frequency and monetary value per customer, and the study's preparation for clustering.

The RFM table is an aggregate of the clean transactions on the engine; the features for
clustering are customer-level (pandas): outliers above a percentile are held out of fitting,
then the three measures are standardised with a scaler fitted on the rest.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

RFM_COLUMNS = ("recency", "frequency", "monetary")
SECONDS_PER_DAY = 86_400


def default_as_of(clean: ir.Table) -> dt.date:
    """The day after the last invoice: the study's reference date (2011-12-10 on the UCI data)."""
    last = clean.invoice_date.max().execute()
    if last is None or pd.isna(last):
        raise ValueError("no transactions: the as-of date cannot be derived")
    return pd.Timestamp(last).date() + dt.timedelta(days=1)


def rfm_table(clean: ir.Table, as_of: dt.date) -> ir.Table:
    """One row per customer from the transactions strictly before `as_of` (midnight).

    recency: whole days from the last invoice to `as_of`; frequency: distinct invoices;
    monetary: sum of `total_price`; tenure_days: whole days from the first invoice to `as_of`;
    avg_order_value: monetary / frequency; as_of: the date itself, so the table says when.
    """
    cutoff = ibis.timestamp(dt.datetime.combine(as_of, dt.time()))
    before = clean.filter(clean.invoice_date < cutoff)
    per_customer = before.group_by("customer_id").aggregate(
        frequency=before.invoice_no.nunique(),
        # summed as decimals: exact, so the thread count cannot change a rounded cent
        monetary=before.total_price.cast("decimal(18, 4)").sum(),
        first_purchase=before.invoice_date.min(),
        last_purchase=before.invoice_date.max(),
    )

    def days_until_cutoff(moment: ir.TimestampValue) -> ir.IntegerValue:
        seconds = cutoff.epoch_seconds() - moment.epoch_seconds()
        return (seconds // SECONDS_PER_DAY).cast("int64")

    return per_customer.select(
        "customer_id",
        recency=days_until_cutoff(per_customer.last_purchase),
        frequency=per_customer.frequency.cast("int64"),
        monetary=per_customer.monetary.round(2).cast("float64"),
        first_purchase="first_purchase",
        last_purchase="last_purchase",
        tenure_days=days_until_cutoff(per_customer.first_purchase),
        avg_order_value=(per_customer.monetary / per_customer.frequency).round(2).cast("float64"),
        as_of=ibis.literal(as_of, "date"),
    ).order_by("customer_id")


@dataclass(frozen=True)
class Features:
    """Scaled RFM features for every customer, and how they were made."""

    table: pd.DataFrame
    thresholds: dict[str, float]
    scaler: StandardScaler

    log_transform: bool = False

    @property
    def inliers(self) -> pd.DataFrame:
        return self.table[~self.table["is_outlier"]]

    def scale(self, rfm: pd.DataFrame) -> np.ndarray:
        """Other customers' R, F, M scaled exactly as these were (new customers, say)."""
        return self.scaler.transform(_prepared(rfm, self.log_transform))


SCALED_COLUMNS = tuple(f"{c}_scaled" for c in RFM_COLUMNS)


def rfm_features(
    rfm: pd.DataFrame, outlier_quantile: float = 0.95, log_transform: bool = False
) -> Features:
    """Flag customers above `outlier_quantile` of frequency or monetary; scale on the rest.

    Outliers stay in the table (flagged) so that every later segmentation assigns them too;
    the scaler is fitted on the others only, as in the study. With `log_transform`, the three
    measures pass through sign(x)·log(1+|x|) before scaling.
    """
    if rfm.empty:
        raise ValueError("the RFM table has no customers")
    rfm = rfm.sort_values("customer_id").reset_index(drop=True)
    thresholds = {c: float(rfm[c].quantile(outlier_quantile)) for c in ("frequency", "monetary")}
    is_outlier = (rfm["frequency"] > thresholds["frequency"]) | (
        rfm["monetary"] > thresholds["monetary"]
    )
    if is_outlier.all():  # a handful of customers: hold no one out rather than everyone
        is_outlier[:] = False
    values = _prepared(rfm, log_transform)
    scaler = StandardScaler().fit(values[~is_outlier.to_numpy()])
    scaled = pd.DataFrame(scaler.transform(values), columns=list(SCALED_COLUMNS))
    table = rfm[["customer_id", *RFM_COLUMNS]].assign(is_outlier=is_outlier.to_numpy())
    table = pd.concat([table, scaled], axis=1)
    return Features(table, thresholds, scaler, log_transform)


def _prepared(rfm: pd.DataFrame, log_transform: bool) -> np.ndarray:
    """R, F, M as floats, through sign(x)·log(1+|x|) when asked."""
    values = rfm[list(RFM_COLUMNS)].to_numpy(dtype="float64")
    return np.sign(values) * np.log1p(np.abs(values)) if log_transform else values
