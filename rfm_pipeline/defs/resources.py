"""The engine every transaction-level asset runs on."""

import dagster as dg
from ibis.backends.duckdb import Backend as DuckDBBackend

from rfm_pipeline.core.engine import shared_connection


class DuckDBEngine(dg.ConfigurableResource):
    """In-process DuckDB behind Ibis; spills to `temp_directory` past `memory_limit`."""

    memory_limit: str = "4GB"
    threads: int | None = None
    temp_directory: str | None = None

    def connection(self) -> DuckDBBackend:
        return shared_connection(self.memory_limit, self.threads, self.temp_directory)
