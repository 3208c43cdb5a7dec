"""Shared fixtures of the Dagster wiring: resources on a warehouse of the test's own, and one
week of the whole graph materialised for a small shop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from rfm_pipeline.definitions import defs
from rfm_pipeline.defs.io_managers import warehouse_io_manager
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.settings import BUNDLED_INPUT

WEEK = "2011-11-28"
"""The week the graph fixture materialises (as of 2011-12-05)."""


CLEANING = dg.AssetSelection.assets("clean_transactions").required_multi_asset_neighbors()
"""The cleaning step alone: clean_transactions and cleaning_summary, made together."""


def resources(warehouse) -> dict:
    engine = Engine(threads=1)
    store = Warehouse(base_path=str(warehouse))
    return {
        "engine": engine,
        "warehouse": store,
        "io_manager": warehouse_io_manager,
    }


def ingest_config(path, cutoffs: int | None = None, **extra) -> dict:
    """`raw_transactions` reading `path`; `cutoffs`: how many cut-offs value_backtest scores."""
    ops = {"raw_transactions": {"config": {"path": str(path), **extra}}}
    if cutoffs is not None:
        ops["value_backtest"] = {"config": {"cutoff_count": cutoffs}}
    return {"ops": ops}


@dataclass
class Graph:
    """Every asset of the project, materialised for one week of a shop of 150 customers (the
    forecast backtested at two cut-offs)."""

    warehouse: Path
    result: dg.ExecuteInProcessResult

    def table(self, asset: str, week: str | None = WEEK) -> pd.DataFrame:
        name = f"{asset}/{week}.parquet" if week else f"{asset}.parquet"
        return pd.read_parquet(self.warehouse / name)

    def metadata(self, asset: str) -> dict:
        events = [
            e
            for e in self.result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == asset
        ]
        metadata = events[0].event_specific_data.materialization.metadata
        return {key: value.value for key, value in metadata.items()}


@pytest.fixture(scope="session")
def graph(tmp_path_factory) -> Graph:
    folder = tmp_path_factory.mktemp("graph")
    bundled = pd.read_parquet(BUNDLED_INPUT)
    first = bundled["CustomerID"].dropna().drop_duplicates().head(150)
    source = folder / "shop.parquet"
    bundled[bundled["CustomerID"].isin(first)].to_parquet(source, index=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            defs.assets,
            resources=resources(folder / "warehouse"),
            run_config=ingest_config(source, cutoffs=2),
            partition_key=WEEK,
            instance=instance,
        )
    assert result.success
    return Graph(folder / "warehouse", result)
