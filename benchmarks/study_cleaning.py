"""The study's cleaning as it was written: a pandas row loop. The reference, not the product."""

from __future__ import annotations

import pandas as pd


def study_clean(path: str) -> pd.DataFrame:
    """The study's steps: customers, duplicates, the cancellation loop, codes, prices."""
    df = pd.read_parquet(path)
    df["InvoiceDate"] = pd.to_datetime(df["InvoiceDate"])
    df = df.dropna(subset=["CustomerID"]).drop_duplicates()
    cleaned = df.copy()
    cleaned["QuantityCanceled"] = 0
    for _, row in df.iterrows():
        if row["Quantity"] > 0 or row["Description"] == "Discount":
            continue
        candidates = df[
            (df["CustomerID"] == row["CustomerID"])
            & (df["StockCode"] == row["StockCode"])
            & (df["InvoiceDate"] < row["InvoiceDate"])
            & (df["Quantity"] > 0)
        ]
        if len(candidates) == 1:
            cleaned.loc[candidates.index[0], "QuantityCanceled"] = -row["Quantity"]
        elif len(candidates) > 1:
            for index, candidate in candidates.sort_index(ascending=False).iterrows():
                if candidate["Quantity"] >= -row["Quantity"]:
                    cleaned.loc[index, "QuantityCanceled"] = -row["Quantity"]
                    break
    cleaned = cleaned[cleaned["Quantity"] > 0]
    cleaned = cleaned[~cleaned["StockCode"].str.contains("^[a-zA-Z]+", regex=True)]
    cleaned = cleaned[cleaned["UnitPrice"] > 0]
    cleaned["TotalPrice"] = cleaned["UnitPrice"] * (
        cleaned["Quantity"] - cleaned["QuantityCanceled"]
    )
    return cleaned.reset_index(drop=True)
