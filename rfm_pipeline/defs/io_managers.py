"""Every table asset is a Parquet file: `<warehouse>/<asset_name>.parquet`; a weekly one is
`<warehouse>/<asset_name>/<week>.parquet`, copied to the stable path while it is the newest.
"""

import dagster as dg
import pandas as pd

from rfm_pipeline.core.engine import read_parquet
from rfm_pipeline.core.model_files import SavedModel, card_path, load_model, save_model
from rfm_pipeline.core.storage import write_table
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.defs.weeks import EARLIER_WEEKS


class WarehouseIOManager(dg.IOManager):
    """Writes tables atomically under the warehouse; loads them on the engine or as pandas.

    An input typed `pandas.DataFrame` is read with pyarrow; a `SavedModel` from its skops file
    (`<asset>.skops` beside `<asset>.json`); any other input is an Ibis table on the run's
    engine, so transaction-level tables never pass through pandas. An input on earlier weeks
    (`previous_week`, `this_and_previous_week`) is `{week: frame}` for the weeks that have
    been materialised: the first week has no previous one.
    """

    def __init__(self, warehouse: Warehouse, engine: Engine) -> None:
        self.warehouse = warehouse
        self.engine = engine

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        name = context.asset_key.to_python_identifier()
        week = context.asset_partition_key if context.has_asset_partitions else None
        if isinstance(obj, SavedModel):
            paths = self.warehouse.targets(name, ".skops", week)
            for path in paths:
                self.warehouse.keep(path, card_path(path))
                save_model(obj, path)
        else:
            paths = self.warehouse.publish(
                name, ".parquet", week, lambda path: write_table(obj, path)
            )
        context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0]))})

    def load_input(self, context: dg.InputContext) -> object:
        name = context.asset_key.to_python_identifier()
        if context.definition_metadata.get(EARLIER_WEEKS):
            found = {
                week: self.warehouse.file(name, ".parquet", week)
                for week in context.asset_partition_keys
            }
            return {week: pd.read_parquet(str(p)) for week, p in found.items() if p.exists()}
        typing_type = context.dagster_type.typing_type
        suffix = ".skops" if typing_type is SavedModel else ".parquet"
        week = context.asset_partition_key if context.has_asset_partitions else None
        path = self.warehouse.file(name, suffix, week)
        if not path.exists():
            name = context.asset_key.to_user_string()
            raise dg.Failure(f"{name} has no output at {path}; materialise it first")
        if typing_type is SavedModel:
            return load_model(path)
        if typing_type is pd.DataFrame:
            return pd.read_parquet(str(path))
        return read_parquet(self.engine.connection(), str(path))


@dg.io_manager(required_resource_keys={"warehouse", "engine"})
def warehouse_io_manager(context: dg.InitResourceContext) -> WarehouseIOManager:
    """The IO manager on the run's own warehouse and engine, as the run configures them."""
    return WarehouseIOManager(context.resources.warehouse, context.resources.engine)
