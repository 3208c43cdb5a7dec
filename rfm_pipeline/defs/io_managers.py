"""Every table asset is a Parquet file: `<warehouse>/<asset_name>.parquet`; a weekly one is
`<warehouse>/<asset_name>/<week>.parquet`, copied to the stable path while it is the newest.
Other outputs are laid out the same way: a small record (a dict: settings, a summary) as JSON,
a fitted model as skops with its card beside it, the forecast as a folder of its files.
"""

import json
import typing

import dagster as dg
import pandas as pd
from upath import UPath

from rfm_pipeline.core.engine import read_parquet
from rfm_pipeline.core.model_files import SavedModel, card_path, load_model, save_model
from rfm_pipeline.core.storage import atomically, write_bytes, write_table
from rfm_pipeline.core.value import ValueModel, load_value_model, save_value_model
from rfm_pipeline.defs.resources import Engine, Warehouse
from rfm_pipeline.defs.weeks import EARLIER_WEEKS


class WarehouseIOManager(dg.IOManager):
    """Writes tables atomically under the warehouse; loads them on the engine or as pandas.

    An input typed `pandas.DataFrame` is read with pyarrow, with the `attrs` it was written
    with (the settings that made it, for the assets that refit it: `carried`); a `dict` from
    its JSON file; a `SavedModel` from its skops file (`<asset>.skops` beside `<asset>.json`);
    a `ValueModel` from its folder; any other input is an Ibis table on the run's engine, so
    transaction-level tables never pass through pandas. An input typed `X | None` is None
    where the output was never made (a shop too small to forecast); an output of None
    withdraws the earlier one. An input on earlier weeks (`previous_week`, `this_and_previous_week`)
    is `{week: frame}` for the weeks that have been materialised: the first week has no
    previous one.
    """

    def __init__(self, warehouse: Warehouse, engine: Engine) -> None:
        self.warehouse = warehouse
        self.engine = engine

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        name = context.asset_key.to_python_identifier()
        week = context.asset_partition_key if context.has_asset_partitions else None
        if obj is None:  # nothing made: no earlier input's output passes for this one's
            for suffix in {*SUFFIXES.values(), ".parquet"}:
                self.warehouse.withdraw(name, suffix, week)
            return
        suffix = SUFFIXES.get(type(obj), ".parquet")
        if isinstance(obj, SavedModel):
            paths = self.warehouse.targets(name, suffix, week)
            for path in paths:
                self.warehouse.keep(path, card_path(path))
                save_model(obj, path)
        else:
            paths = self.warehouse.publish(name, suffix, week, lambda path: _write(obj, path))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0]))})

    def load_input(self, context: dg.InputContext) -> object:
        # an op's input (the scoring job's) is the newest output of the asset it is named after
        key = context.asset_key if context.has_asset_key else dg.AssetKey(context.name)
        name = key.to_python_identifier()
        if context.definition_metadata.get(EARLIER_WEEKS):
            found = {
                week: self.warehouse.file(name, ".parquet", week)
                for week in context.asset_partition_keys
            }
            return {week: pd.read_parquet(str(p)) for week, p in found.items() if p.exists()}
        typing_type = context.dagster_type.typing_type
        optional = type(None) in typing.get_args(typing_type)  # `X | None`
        if optional:
            typing_type = next(t for t in typing.get_args(typing_type) if t is not type(None))
        suffix = SUFFIXES.get(typing_type, ".parquet")
        week = context.asset_partition_key if context.has_asset_partitions else None
        path = self.warehouse.file(name, suffix, week)
        if not path.exists():
            if optional:
                return None
            raise dg.Failure(
                f"{key.to_user_string()} has no output at {path}; materialise it first"
            )
        if typing_type is SavedModel:
            return load_model(path)
        if typing_type is ValueModel:
            return load_value_model(path)
        if typing_type is dict:
            return json.loads(path.read_text())
        if typing_type is pd.DataFrame:
            return pd.read_parquet(str(path))
        return read_parquet(self.engine.connection(), str(path))


SUFFIXES = {dict: ".json", SavedModel: ".skops", ValueModel: ".forecast"}
"""The file of each kind of output but a table (`.parquet`): a record, a fitted model with its
card beside it, the forecast's folder."""


def _write(obj: object, path: UPath) -> None:
    if isinstance(obj, dict):
        write_bytes(json.dumps(obj, indent=1, sort_keys=True).encode(), path)
    elif isinstance(obj, ValueModel):
        atomically(path, lambda local: save_value_model(obj, local))
    else:
        write_table(obj, path)


@dg.io_manager(required_resource_keys={"warehouse", "engine"})
def warehouse_io_manager(context: dg.InitResourceContext) -> WarehouseIOManager:
    """The IO manager on the run's own warehouse and engine, as the run configures them."""
    return WarehouseIOManager(context.resources.warehouse, context.resources.engine)


def carried(table: pd.DataFrame, key: str, asset: str) -> object:
    """What a stored table carries with it (`attrs[key]`: the settings that made it, a
    summary); a table written before it carried that is refused, naming the asset to redo."""
    if key not in table.attrs:
        raise dg.Failure(f"{asset} carries no {key}: materialise {asset} again")
    return table.attrs[key]
