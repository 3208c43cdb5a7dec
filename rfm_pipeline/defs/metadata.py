"""Helpers that turn plain results into Dagster metadata."""

import base64
import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rfm_pipeline.core.plots import png_bytes
from rfm_pipeline.core.storage import write_bytes
from rfm_pipeline.defs.resources import Warehouse
from rfm_pipeline.defs.weeks import WEEKLY_ASSETS

_TYPES = {"i": "int", "u": "int", "f": "float", "b": "bool"}


def table_metadata(frame: pd.DataFrame) -> dg.TableMetadataValue:
    """A small frame as a table the UI shows with typed columns."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(str(name), _TYPES.get(frame[name].dtype.kind, "string"))
            for name in frame.columns
        ]
    )
    records = [
        dg.TableRecord({str(k): _cell(v) for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def upstream_metadata(context: dg.AssetExecutionContext, asset: str) -> dict:
    """The metadata values of a declared upstream asset's materialisation (tables as frames): of
    this week for a weekly one, the latest for an unpartitioned one; {} if it has none."""
    key = dg.AssetKey(asset)
    if key not in context.assets_def.dependency_keys:
        raise ValueError(f"{asset} is not an upstream asset of {context.assets_def.key}")
    week = [context.partition_key] if asset in WEEKLY_ASSETS else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=week), limit=1
    ).records
    if not records:
        return {}
    return {k: _value(v) for k, v in records[0].asset_materialization.metadata.items()}


def _value(value: dg.MetadataValue) -> object:
    if isinstance(value, dg.TableMetadataValue):
        return pd.DataFrame([record.data for record in value.records])
    return value.value


def plain(metadata: dict[str, object]) -> dict[str, object]:
    """Metadata as the event log takes it: the one conversion every asset's metadata passes
    through, so no numpy scalar, array or timestamp reaches Dagster."""
    return {str(key): _plain(value) for key, value in metadata.items()}


def _cell(value: object) -> object:
    """A table cell: its plain value, a missing number as None."""
    value = _plain(value)
    return None if isinstance(value, float) and value != value else value


def _plain(value: object) -> object:
    """Python values of numpy scalars and arrays, dates as text, inside lists and dicts too; a
    missing value as None; Dagster's own metadata values as they are."""
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    return value


def image_metadata(
    figure: Figure, warehouse: Warehouse, name: str, week: str | None = None
) -> dg.MarkdownMetadataValue:
    """Save the figure and embed it in the UI's metadata: a weekly asset's plot goes to
    `<warehouse>/plots/<name>/<week>.png` (and `plots/<name>.png` while it is the newest week),
    an unpartitioned asset's to `plots/<name>.png`."""
    data = png_bytes(figure)
    paths = warehouse.publish(f"plots/{name}", ".png", week, lambda path: write_bytes(data, path))
    encoded = base64.b64encode(data).decode("ascii")
    return dg.MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})\n\n`{paths[0]}`")
