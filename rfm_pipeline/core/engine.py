"""The transaction-level engine: Ibis on an in-process DuckDB connection."""

from __future__ import annotations

import functools

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
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


EXACT = "decimal(18, 4)"
"""Money is summed as decimals: exact, so the order rows arrive in (threads) never changes a
digit of a sum or a mean."""


def exact_sum(values: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The sum of `values` (where `where` holds), the same whatever the row order."""
    return values.cast(EXACT).sum(where=where).cast("float64")


def exact_mean(values: ir.NumericValue) -> ir.FloatingValue:
    """The mean of `values`, the same whatever the row order."""
    return values.cast(EXACT).mean().cast("float64")


def most_common(table: ir.Table, key: str, column: str) -> ir.Table:
    """Per `key`, the most frequent non-null `column` value; ties go to the first in sort
    order, so the choice never depends on the row order."""
    known = table.filter(table[column].notnull())
    counts = known.group_by([key, column]).aggregate(count=known.count())
    order = ibis.window(group_by=key, order_by=[ibis.desc("count"), column])
    ranked = counts.mutate(rank=ibis.row_number().over(order))
    return ranked.filter(ranked["rank"] == 0).select(key, column)


@functools.cache
def shared_connection(
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
) -> DuckDBBackend:
    """One connection per process and settings, so tables loaded for one run can be joined."""
    return connect(memory_limit, threads, temp_directory)
