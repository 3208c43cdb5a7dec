"""Helpers that turn plain results into Dagster metadata."""

import base64
import datetime as dt
from decimal import Decimal

import dagster as dg
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rfm_pipeline.core.plots import png_bytes
from rfm_pipeline.core.storage import write_bytes
from rfm_pipeline.defs.resources import Warehouse

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


def skipped(reason: object) -> dict[str, str]:
    """What an asset that made nothing (or nothing of its own) says, one way for all:
    `skipped: <why>`."""
    return {"skipped": f"skipped: {reason}"}


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
    if isinstance(value, Decimal):  # an exact sum on Spark or PostgreSQL
        return float(value)
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
