"""Every table asset is a Parquet file: `<warehouse>/<asset_name>.parquet`."""

import dagster as dg
import ibis.expr.types as ir
import pandas as pd
from upath import UPath

from rfm_pipeline.core.models import SavedModel, card_path, load_model, save_model
from rfm_pipeline.core.storage import write_table
from rfm_pipeline.defs.resources import DuckDBEngine, Warehouse


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Writes tables atomically under the warehouse; loads them on the engine or as pandas.

    An input typed `pandas.DataFrame` is read with pyarrow; a `SavedModel` from its skops file
    (`<asset>.skops` beside `<asset>.json`); any other input is an Ibis table on the shared
    DuckDB connection, so transaction-level tables never pass through pandas.
    """

    warehouse: Warehouse
    engine: DuckDBEngine

    def path_for(self, asset_key: dg.AssetKey, suffix: str = ".parquet") -> UPath:
        return self.warehouse.path(*asset_key.path[:-1], f"{asset_key.path[-1]}{suffix}")

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        if isinstance(obj, SavedModel):
            path = self.path_for(context.asset_key, ".skops")
            self.warehouse.keep(path, card_path(path))
            save_model(obj, path)
        else:
            path = self.path_for(context.asset_key)
            self.warehouse.keep(path)
            write_table(obj, path)
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> ir.Table | pd.DataFrame | SavedModel:
        typing_type = context.dagster_type.typing_type
        suffix = ".skops" if typing_type is SavedModel else ".parquet"
        path = self.path_for(context.asset_key, suffix)
        if not path.exists():
            name = context.asset_key.to_user_string()
            raise dg.Failure(f"{name} has no output at {path}; materialise it first")
        if typing_type is SavedModel:
            return load_model(path)
        if typing_type is pd.DataFrame:
            return pd.read_parquet(str(path))
        return self.engine.connection().read_parquet(str(path))
