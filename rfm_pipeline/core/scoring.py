"""Scoring new transactions: the customers of a file (or a frame) get the segment the saved
classifier assigns from their RFM, and, with the saved forecast, their probability of buying
and expected spend; customers that cannot be scored get a reason instead."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from upath import UPath

from rfm_pipeline.core import cleaning, ingest, rfm
from rfm_pipeline.core.engine import connect
from rfm_pipeline.core.model_files import SavedModel, load_model

if TYPE_CHECKING:
    from rfm_pipeline.core.value import ValueModel


COLUMNS = [
    "customer_id",
    "segment_id",
    "segment_name",
    "strategy",
    "probability",
    "recency",
    "frequency",
    "monetary",
    "reason",
]


def predict_segments(
    transactions: pd.DataFrame,
    as_of: dt.date | str | None = None,
    model_path: str | Path | None = None,
    column_map: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Segments for the customers in a frame of transactions (source column names), and the
    forecast's probability of buying and expected spend when it has been saved beside it.

    Uses the classifier saved by the last run (`<warehouse>/segment_classifier.skops` unless
    `model_path` says otherwise); the frame goes through the same ingestion and cleaning.
    """
    from rfm_pipeline.core.value import load_value_model
    from rfm_pipeline.settings import warehouse_path

    path = UPath(model_path or UPath(warehouse_path()) / "segment_classifier.skops")
    saved_forecast = path.parent / "value_model.forecast"
    value = load_value_model(saved_forecast) if saved_forecast.exists() else None
    con = connect()
    source = ingest.frame_source(con, transactions)
    raw = ingest.canonical_log(source, "transactions", column_map).table
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    return score_customers(raw, load_model(path), as_of, value=value)


def score_file(
    con: ibis.BaseBackend,
    path: str | Path,
    saved: SavedModel,
    as_of: dt.date | None = None,
    value: ValueModel | None = None,
    **reading: object,
) -> pd.DataFrame:
    """Segments (and with `value` the forecast) for the customers in a transactions file, read
    like `run` reads its input."""
    raw = ingest.read_transactions(con, path, **reading)
    return score_customers(raw, saved, as_of, value=value)


def score_customers(
    raw: ir.Table,
    saved: SavedModel,
    as_of: dt.date | None = None,
    rules: cleaning.CleaningRules | None = None,
    value: ValueModel | None = None,
) -> pd.DataFrame:
    """One row per customer in `raw` (canonical schema): segment and probability, or a reason;
    with `value` (the saved forecast), also `p_active` and the expected spend.

    The lines are cleaned with `rules`, by default the rules the model's training data was
    cleaned with (its card's `cleaning_rules`)."""
    rules = rules or cleaning.CleaningRules(**saved.card.get("cleaning_rules", {}))
    clean = cleaning.clean_transactions(raw, rules).table
    if clean.count().execute():
        as_of = as_of or rfm.default_as_of(clean)
        table = rfm.rfm_table(clean, as_of).execute()
    else:
        table = pd.DataFrame(columns=["customer_id", *rfm.RFM_COLUMNS])
    scored = table.assign(**_predict(saved, table))
    unscored = reasons(cleaning.flag_lines(raw, rules), set(table["customer_id"]), as_of)
    table = pd.concat([scored, unscored], ignore_index=True)[COLUMNS]
    if value is not None:
        table = table.merge(_forecast(value, clean, as_of, table), on="customer_id", how="left")
    counts = {c: "Int64" for c in ("segment_id", "recency", "frequency")}
    return table.astype(counts).sort_values("customer_id", ignore_index=True)


def _forecast(value: ValueModel, clean: ir.Table, as_of: dt.date | None, table: pd.DataFrame):
    """The forecast's probability of buying and expected spend, for the scored customers."""
    spend = f"expected_spend_{value.settings.horizon_days}d"
    if table["segment_id"].isna().all():
        return pd.DataFrame(columns=["customer_id", "p_active", spend])
    return value.forecast(clean, as_of)[["customer_id", "p_active", spend]]


def _predict(saved: SavedModel, table: pd.DataFrame) -> dict[str, object]:
    if table.empty:
        return {c: pd.Series(dtype="object") for c in COLUMNS if c not in table.columns}
    features = saved.card.get("features", list(rfm.RFM_COLUMNS))
    probabilities = saved.model.predict_proba(table[features].to_numpy(dtype="float64"))
    classes = saved.model.classes_
    segment = classes[np.argmax(probabilities, axis=1)]
    named = {c["segment_id"]: c for c in saved.card.get("classes", [])}
    return {
        "segment_id": segment.astype("int64"),
        "segment_name": [named.get(int(s), {}).get("segment_name") for s in segment],
        "strategy": [named.get(int(s), {}).get("strategy") for s in segment],
        "probability": probabilities.max(axis=1).round(4),
        "reason": None,
    }


def reasons(lines: ir.Table, scored: set[str], as_of: dt.date | None) -> pd.DataFrame:
    """Why each customer with lines in the log got no RFM row."""
    customers = lines.filter(lines.customer_id.notnull())
    cutoff = dt.datetime.combine(as_of, dt.time()) if as_of else None
    kept = customers.dropped_by.isnull()
    per_customer = (
        customers.group_by("customer_id")
        .aggregate(
            lines=customers.count(),
            cancellations=(customers.dropped_by == "cancellation").sum(),
            kept=kept.sum(),
            kept_before=(kept & (customers.invoice_date < cutoff)).sum() if cutoff else kept.sum(),
        )
        .execute()
    )
    missing = per_customer[~per_customer["customer_id"].isin(scored)]
    return pd.DataFrame(
        {
            "customer_id": missing["customer_id"],
            "reason": [_reason(row) for row in missing.itertuples()],
        }
    )


def _reason(row) -> str:
    if row.cancellations == row.lines:
        return "only cancellations"
    if row.kept and not row.kept_before:
        return "no transactions before the as-of date"
    return "no valid purchase lines (duplicates, non-product codes or non-positive prices)"
