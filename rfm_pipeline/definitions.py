"""The one Definitions object: everything in the defs folder (assets, checks, jobs, schedules),
loaded as `dg` loads a project, with the resources every asset uses."""

import warnings
from pathlib import Path

import dagster as dg

from rfm_pipeline.defs.io_managers import warehouse_io_manager
from rfm_pipeline.defs.loggers import progress
from rfm_pipeline.defs.resources import Engine, Warehouse

ON_ENGINE = "engine"
"""The kind the transaction-level assets are declared with in the defs folder: they run on the
engine the definitions are given, and their kinds name it (`duckdb`, `spark` or `postgres`)."""


def project_definitions(engine: Engine) -> dg.Definitions:
    """The project's definitions for an engine: the defs folder, its assets' kinds naming
    where they run, and the resources every asset uses; runs execute in process (no fresh
    interpreter per step) and log their steps for the command line too."""
    folder = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    resources = dg.Definitions(
        resources={"engine": engine, "warehouse": Warehouse(), "io_manager": warehouse_io_manager},
        executor=dg.in_process_executor,
        loggers={"console": dg.colored_console_logger, "progress": progress},
    )
    with warnings.catch_warnings():  # a preview of Dagster 1.13, the way to rewrite kinds
        warnings.simplefilter("ignore", dg.PreviewWarning)
        folder = folder.map_asset_specs(func=on(engine.backend))
    return dg.Definitions.merge(folder, resources)


def on(backend: str):
    """A spec's kinds with `ON_ENGINE` replaced by the engine's name."""

    def named(spec: dg.AssetSpec) -> dg.AssetSpec:
        if ON_ENGINE not in spec.kinds:
            return spec
        return spec.replace_attributes(kinds=(spec.kinds - {ON_ENGINE}) | {backend})

    return named


defs = project_definitions(Engine.from_environment())
"""As a code location deploys them: on the engine its environment names (`Engine`)."""
