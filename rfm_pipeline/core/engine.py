"""The transaction-level engine: Ibis on an in-process DuckDB connection."""

from __future__ import annotations

import functools

import ibis
import ibis.expr.datatypes as dt
from ibis.backends.duckdb import Backend as DuckDBBackend


def connect(
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> DuckDBBackend:
    """An in-memory DuckDB connection that spills to `temp_directory` beyond `memory_limit`."""
    options: dict[str, object] = {}
    if memory_limit:
        options["memory_limit"] = memory_limit
    if threads:
        options["threads"] = threads
    if temp_directory:
        options["temp_directory"] = temp_directory
    return ibis.duckdb.connect(**options)


@ibis.udf.scalar.builtin
def try_strptime(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """DuckDB's strptime that yields NULL instead of failing, so bad dates can be listed."""


@functools.cache
def shared_connection(
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> DuckDBBackend:
    """One connection per process and settings, so tables loaded for one run can be joined."""
    return connect(memory_limit, threads, temp_directory)
