"""Helpers that turn plain results into Dagster metadata."""

import base64

import dagster as dg
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
        dg.TableRecord({str(k): _plain(v) for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value: object) -> object:
    """A numpy scalar as its Python value; a missing value as None."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    return value.item() if hasattr(value, "item") else value


def image_metadata(figure: Figure, warehouse: Warehouse, name: str) -> dg.MarkdownMetadataValue:
    """Save the figure as `<warehouse>/plots/<name>.png` and embed it in the UI's metadata."""
    data = png_bytes(figure)
    path = warehouse.path("plots", f"{name}.png")
    warehouse.keep(path)
    write_bytes(data, path)
    encoded = base64.b64encode(data).decode("ascii")
    return dg.MetadataValue.md(f"![{name}](data:image/png;base64,{encoded})\n\n`{path}`")
