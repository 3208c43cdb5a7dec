"""Helpers that turn plain results into Dagster metadata."""

import dagster as dg
import pandas as pd

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
        dg.TableRecord({str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records, schema=schema)
