"""The transaction-level engine: Ibis on DuckDB in process (the default), Spark or PostgreSQL.

Every transaction-level function takes Ibis tables and runs unchanged on the three backends.
What one backend does differently (reading a file in line order, writing Parquet, parsing
text dates and numbers, moving a table between engines) is written here, per backend, and
nowhere else.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend
from upath import UPath

BACKENDS = ("duckdb", "spark", "postgres")
"""The engines, by the name `--engine` takes."""

DATABASE_SCHEMES = ("postgresql", "postgres")


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


def connect_spark(
    master: str = "local[2]", staging: str | None = None, driver_memory: str = "4g"
) -> ibis.BaseBackend:
    """Spark through Ibis's PySpark backend: local mode (`local[N]`), a cluster's master URL
    (`spark://host:7077`, `yarn`, `k8s://...`) or a Spark Connect server (`sc://host:15002`,
    Databricks Connect and other Connect-compatible engines).

    Timestamps are wall-clock times (UTC session, Parquet without time zone), and a local
    run gets as many shuffle partitions as cores instead of Spark's 200. A session off this
    machine stages the tables moved to it under `staging` (see `staging`). One process
    holds one classic session: asking for a second master is refused, not ignored.
    """
    from pyspark.sql import SparkSession

    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    }
    cores = re.fullmatch(r"local\[(\d+|\*)\]", master)
    if cores:  # a cluster keeps its own number (Spark's adaptive execution merges them)
        count = (os.cpu_count() or 2) if cores[1] == "*" else int(cores[1])
        settings["spark.sql.shuffle.partitions"] = str(2 * count)
    if is_spark_connect(master):  # Connect's own builder, which leaves local sessions possible
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        builder = ConnectSession.builder.remote(master)
    else:  # settings of the driver, which a Connect server fixes for itself
        builder = SparkSession.builder.master(master).appName("rfm_pipeline")
        settings |= {
            "spark.driver.memory": driver_memory,
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
        }
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not is_spark_connect(master):
        running = session.sparkContext.master
        if running != master:
            raise ValueError(
                f"this process already runs a Spark session on {running}; a second one on"
                f" {master} needs a process of its own"
            )
        session.sparkContext.setLogLevel("ERROR")
    con = ibis.pyspark.connect(session)
    _spark_sessions[con] = (master, staging)
    return con


_spark_sessions: dict[ibis.BaseBackend, tuple[str, str | None]] = {}
"""Each Spark connection's master URL and staging location."""


def is_spark_connect(master: str) -> bool:
    """Whether a Spark master URL names a Spark Connect server (`sc://host:port`)."""
    return master.startswith("sc://")


def is_local_spark(master: str) -> bool:
    """Whether a Spark master runs in this process (`local`, `local[N]`, `local[*]`), so its
    executors read this machine's files."""
    return re.fullmatch(r"local(\[(\d+|\*)(, *\d+)?\])?", master) is not None


def runs_elsewhere(expr: ir.Expr | ibis.BaseBackend) -> bool:
    """Whether the engine of a table or connection may run its workers on other hosts (a
    Spark cluster, a Connect server), so that they read and write only locations every host
    reaches."""
    if backend_of(expr) != "spark":
        return False
    con = expr if isinstance(expr, ibis.BaseBackend) else ibis.get_backend(expr)
    return not is_local_spark(_spark_sessions[con][0])


def spark_description(con: ibis.BaseBackend) -> dict[str, str]:
    """The Spark session a connection runs on: its master URL (`redact_token`) and Spark's
    version."""
    master, _ = _spark_sessions[con]
    return {"spark_master": redact_token(master), "spark_version": con.version}


def redact_token(master: str) -> str:
    """A Spark master URL fit to show: a Connect URL's token (`sc://host/;token=...`, as
    Databricks Connect's) replaced by `***`."""
    return re.sub(r"(;token=)[^;]*", r"\1***", master)


def connect_postgres(url: str) -> ibis.BaseBackend:
    """A PostgreSQL database from its URL; a password is best left to `PGPASSWORD` or
    `~/.pgpass`, which libpq reads as usual."""
    import psycopg.conninfo

    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise ValueError(f"cannot read the database URL {redact(url)}: {error}") from None
    options = {"database": info.pop("dbname", None), **info}
    con = ibis.postgres.connect(**{k: v for k, v in options.items() if v is not None})
    con.raw_sql(TRY_TIMESTAMP).close()
    return con


TRY_TIMESTAMP = """
CREATE FUNCTION pg_temp.rfm_try_timestamp(value text, layout text) RETURNS timestamp AS $$
BEGIN
    IF layout IS NULL THEN
        RETURN value::timestamp;
    END IF;
    RETURN to_timestamp(value, layout)::timestamp;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$ LANGUAGE plpgsql IMMUTABLE
"""
"""PostgreSQL's date parsers fail on a bad date; this one, for the connection's session only
(`pg_temp`, no lasting change to the database), yields NULL so bad dates can be listed."""


@functools.cache
def shared_connection(
    backend: str = "duckdb",
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: str | None = None,
    spark_master: str = "local[2]",
    database: str | None = None,
    spark_staging: str | None = None,
) -> ibis.BaseBackend:
    """One connection per process and settings, so tables loaded for one run can be joined;
    one per database URL (or Spark master) whatever DuckDB's settings, so a table read from
    the engine's own database is read in place."""
    if backend == "duckdb":
        return connect(memory_limit, threads, temp_directory)
    if backend == "spark":
        return _shared(connect_spark, spark_master, spark_staging)
    if backend == "postgres":
        if not database:
            raise ValueError("the postgres engine needs a database URL (--database)")
        return _shared(connect_postgres, database)
    raise ValueError(f"unknown engine '{backend}'; choose one of {', '.join(BACKENDS)}")


@functools.cache
def _shared(connect_to, where: str, *options) -> ibis.BaseBackend:
    return connect_to(where, *options)


def backend_of(expr: ir.Expr | ibis.BaseBackend) -> str:
    """'duckdb', 'spark' or 'postgres': the engine a table or expression runs on."""
    con = expr if isinstance(expr, ibis.BaseBackend) else ibis.get_backend(expr)
    return "spark" if con.name == "pyspark" else con.name


def cached(table: ir.Table) -> ir.Table:
    """The table computed once and kept on its engine for the queries that read it again
    (Ibis's `cache`). Spark Connect does not cache a query over a file's `_metadata` columns
    (the line numbers), and Ibis then stops; there the table is checkpointed on the executors
    instead (`localCheckpoint`, which Connect supports), kept while an expression uses it."""
    con = ibis.get_backend(table)
    if backend_of(con) != "spark" or not is_spark_connect(_spark_sessions[con][0]):
        return table.cache()
    frame = con._session.sql(con.compile(table)).localCheckpoint()
    name = ibis.util.gen_name("checkpoint")
    frame.createOrReplaceTempView(name)
    kept = con.table(name)
    weakref.finalize(kept.op(), _release, con, name, frame)
    return kept


def _release(con: ibis.BaseBackend, name: str, frame) -> None:
    """Drop the view; `frame`, held until now, is then freed, and Connect frees its
    checkpoint."""
    con._session.catalog.dropTempView(name)


# ---- database URLs ----------------------------------------------------------------------


def is_database_url(text: str | os.PathLike) -> bool:
    """Whether `text` names a database (postgresql://...) rather than a file."""
    return urlsplit(str(text)).scheme in DATABASE_SCHEMES


def redact(url: str | os.PathLike) -> str:
    """A URL fit to show: any password replaced by `***` (logs, metadata, errors, the UI)."""
    parts = urlsplit(str(url))
    return str(url) if parts.password is None else _with_password(parts, "***")


def split_password(url: str) -> tuple[str, str | None]:
    """The URL without its password, and the password (for `PGPASSWORD`)."""
    parts = urlsplit(url)
    return (url, None) if parts.password is None else (_with_password(parts), parts.password)


def _with_password(parts, password: str | None = None) -> str:
    user = (parts.username or "") + (f":{password}" if password else "")
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.hostname or ''}{port}"))


# ---- reading and writing ----------------------------------------------------------------


def read_parquet(con: ibis.BaseBackend, path: str) -> ir.Table:
    """A stored table (a Parquet file, or a folder of parts written by Spark) on the engine."""
    backend = backend_of(con)
    if backend == "duckdb":
        return con.read_parquet(f"{path}/*.parquet" if os.path.isdir(path) else path)
    if backend == "spark":
        return con.read_parquet(path)
    stat = os.stat(path)
    return _loaded(con, os.path.abspath(path), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _loaded(con: ibis.BaseBackend, path: str, mtime_ns: int, size: int) -> ir.Table:
    """A Parquet file copied into PostgreSQL once per process and version of the file."""
    files = sorted(Path(path).glob("*.parquet")) if Path(path).is_dir() else [Path(path)]
    schema = pq.read_schema(files[0])
    batches = (batch for file in files for batch in pq.ParquetFile(file).iter_batches())
    return transfer(pa.RecordBatchReader.from_batches(schema, batches), con)


def read_parquet_in_order(con: ibis.BaseBackend, path: str | Path) -> ir.Table:
    """A Parquet file with `line_no`, each row's position in the file (0-based)."""
    backend = backend_of(con)
    if backend == "duckdb":
        table = con.read_parquet(str(path), file_row_number=True)
        return table.rename(line_no="file_row_number")
    if backend == "spark":  # an expression in SQL text runs on classic and Connect sessions
        frame = con._session.read.parquet(str(path))
        frame = frame.selectExpr("*", "_metadata.row_index AS line_no")
        name = ibis.util.gen_name("source")
        frame.createOrReplaceTempView(name)
        return con.table(name)
    return transfer(read_parquet_in_order(connect(), path), con)


def write_parquet(table: ir.Table, path: Path) -> None:
    """Write a table as Parquet at `path` from its engine: DuckDB a file; PostgreSQL a file
    from its rows copied out (COPY), in Arrow batches; Spark a folder of parts written by its
    executors."""
    backend = backend_of(table)
    if backend == "duckdb":
        table.to_parquet(path)
    elif backend == "spark":
        ibis.get_backend(table).to_parquet(table, path, mode="overwrite")
    else:
        _write_batches(_copied_out(table), path)


def _copied_out(table: ir.Table) -> pa.RecordBatchReader:
    """A PostgreSQL query's rows in Arrow batches, by COPY to a staged CSV file: many times
    faster than fetching rows through the driver."""
    import pyarrow.csv as pacsv
    from psycopg import sql

    con = ibis.get_backend(table)
    schema = table.schema().to_pyarrow()
    staged = local_staging() / f"{ibis.util.gen_name('copy')}.csv"
    query = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv)").format(sql.SQL(con.compile(table)))
    with con.con.cursor() as cursor, cursor.copy(query) as copy, staged.open("wb") as out:
        for chunk in copy:
            out.write(chunk)
    reader = pacsv.open_csv(
        staged,
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=64 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return pa.RecordBatchReader.from_batches(schema, _then_remove(reader, staged))


def _then_remove(batches, path: Path):
    yield from batches
    path.unlink(missing_ok=True)


def transfer(data: ir.Table | pa.RecordBatchReader, con: ibis.BaseBackend) -> ir.Table:
    """Move a table to another engine in Arrow batches, never whole in memory and never
    through pandas: PostgreSQL takes them with COPY, DuckDB and Spark read them back from a
    staged Parquet file. Used for sources another engine reads (a CSV for Spark, a file or
    another database for PostgreSQL) and for stored tables PostgreSQL joins."""
    batches = data.to_pyarrow_batches() if isinstance(data, ir.Table) else data
    name = ibis.util.gen_name("staged")
    backend = backend_of(con)
    if backend == "postgres":
        copy_into(con.con, name, batches, temporary=True)
        return con.table(name)
    path = staging(con) / f"{name}.parquet"
    _write_batches(batches, path)
    return con.read_parquet(str(path))


def _write_batches(batches: pa.RecordBatchReader, path: Path | UPath) -> None:
    with path.open("wb") as sink, pq.ParquetWriter(sink, batches.schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def staging(con: ibis.BaseBackend | None = None) -> Path | UPath:
    """Where a table moved to the engine `con` is staged for it to read.

    This machine's temporary folder (`local_staging`) for DuckDB, for a local Spark session and
    for files read here. A Spark cluster or Connect server runs its executors elsewhere, so
    it stages under the location its session was given: a folder every host mounts at the
    same path, or an object store (`s3a://bucket/prefix`); without one it is refused.
    """
    if con is None or backend_of(con) != "spark":
        return local_staging()
    master, location = _spark_sessions[con]
    if location:
        return _shared_staging(location)
    if not runs_elsewhere(con):
        return local_staging()
    raise ValueError(
        f"Spark at {master} may run its executors on other hosts, which cannot read this"
        " machine's temporary folder: give a staging location every executor can read"
        " (--spark-staging: a folder every host mounts, or s3a://bucket/prefix)"
    )


@functools.cache
def local_staging() -> Path:
    """A folder of this machine for tables moved between engines and object-store files read
    here, removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="rfm_pipeline_staging_"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


@functools.cache
def _shared_staging(location: str) -> UPath:
    """A folder of this process under a shared staging location, removed when it ends."""
    folder = UPath(location) / f"rfm_pipeline_staging_{uuid.uuid4().hex[:12]}"
    if folder.protocol in ("", "file", "local"):
        folder.mkdir(parents=True)
    atexit.register(_remove_folder, folder)
    return folder


def _remove_folder(folder: UPath) -> None:
    if folder.exists():
        folder.fs.rm(folder.path, recursive=True)


POSTGRES_TYPES = {
    "int64": "bigint",
    "int32": "integer",
    "int16": "smallint",
    "int8": "smallint",
    "double": "double precision",
    "float": "real",
    "bool": "boolean",
    "string": "text",
    "large_string": "text",
    "date32[day]": "date",
}


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type of an Arrow type."""
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision}, {arrow_type.scale})"
    if str(arrow_type) not in POSTGRES_TYPES:
        raise TypeError(f"no PostgreSQL type for the Arrow type {arrow_type}")
    return POSTGRES_TYPES[str(arrow_type)]


def copy_into(
    connection,
    name: str,
    batches: pa.RecordBatchReader,
    temporary: bool = False,
    create: bool = True,
) -> int:
    """COPY Arrow batches into a PostgreSQL table (created first unless `create` is false),
    in the caller's transaction when one is open. Returns the rows copied."""
    import pyarrow.csv as pacsv
    from psycopg import sql

    schema = batches.schema
    fields = [(f.name, postgres_type(f.type)) for f in schema]
    names = sql.SQL(", ").join(sql.Identifier(n) for n, _ in fields)
    identifier = sql.Identifier(*name.split("."))
    rows = 0
    with connection.cursor() as cursor:
        if create:
            columns = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in fields
            )
            kind = sql.SQL("TEMPORARY TABLE" if temporary else "TABLE")
            cursor.execute(sql.SQL("CREATE {} {} ({})").format(kind, identifier, columns))
        copy = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(identifier, names)
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        with cursor.copy(copy) as stream:
            for batch in batches:
                sink = pa.BufferOutputStream()
                pacsv.write_csv(batch, sink, options)
                stream.write(sink.getvalue().to_pybytes())
                rows += batch.num_rows
    return rows


def read_database_table(con: ibis.BaseBackend, url: str, name: str) -> ir.Table:
    """A table of a PostgreSQL database (`schema.table` or `table`) on the engine: in place
    when the engine is that database, else moved over in Arrow batches."""
    source = shared_connection("postgres", database=url)
    schema, _, table = name.rpartition(".")
    found = source.table(table, database=schema or None)
    return found if source is con else transfer(found, con)


# ---- expressions that differ per engine -------------------------------------------------


@ibis.udf.scalar.builtin
def try_strptime(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """DuckDB's strptime that yields NULL instead of failing, so bad dates can be listed."""


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _spark_try_to_timestamp(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """Spark's parser of a Java date pattern, NULL where it fails."""


@ibis.udf.scalar.builtin(name="rfm_try_timestamp", database="pg_temp")
def _postgres_try_timestamp(text: str, fmt: str) -> dt.timestamp:  # type: ignore[empty-body]
    """PostgreSQL's parser of its own date template (or of ISO 8601 without one), NULL
    where it fails (`TRY_TIMESTAMP`)."""


SPARK_PATTERN = {"%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s"}
POSTGRES_PATTERN = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH24", "%M": "MI", "%S": "SS"}
SHAPE = {
    "%Y": r"\d{4}",
    "%m": r"\d{1,2}",
    "%d": r"\d{1,2}",
    "%H": r"\d{1,2}",
    "%M": r"\d{2}",
    "%S": r"\d{2}",
}


def _translate(fmt: str, table: dict[str, str], escape=lambda text: text) -> str:
    parts = re.split(r"(%[A-Za-z])", fmt)
    return "".join(table[p] if p in table else escape(p) for p in parts if p)


ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


def parse_timestamp(text: ir.StringValue, fmt: str | None = None) -> ir.TimestampValue:
    """Text parsed with a strptime layout (%Y %m %d %H %M %S), or as ISO 8601 without one;
    NULL where it does not fit. PostgreSQL's parser reads past trailing text, so there the
    text is checked against the layout's shape first."""
    backend = backend_of(text)
    if fmt is None:
        if backend != "postgres":
            return text.try_cast("timestamp")
        parsed = _postgres_try_timestamp(text, ibis.null("string"))
        return ibis.ifelse(text.re_search(ISO_SHAPE), parsed, None)
    if backend == "duckdb":
        return try_strptime(text, fmt)
    compact = not re.search(r"%[A-Za-z][^%]", fmt)  # %Y%m%d: fixed widths
    if backend == "spark":
        pattern = _translate(
            fmt,
            SPARK_PATTERN if not compact else SPARK_PATTERN | {"%m": "MM", "%d": "dd"},
            _spark_literal,
        )
        return _spark_try_to_timestamp(text, pattern).cast("timestamp")
    shape = _translate(
        fmt, SHAPE if not compact else SHAPE | {"%m": r"\d{2}", "%d": r"\d{2}"}, re.escape
    )
    parsed = _postgres_try_timestamp(text, _translate(fmt, POSTGRES_PATTERN))
    return ibis.ifelse(text.re_search(f"^{shape}$"), parsed, None)


def _spark_literal(text: str) -> str:
    return re.sub(r"([A-Za-z]+)", r"'\1'", text)


NUMBER = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"


def parse_number(text: ir.Value) -> ir.FloatingValue:
    """A value as a float; NULL where it is not a number. PostgreSQL has no TRY_CAST, so
    there text is checked against the shape of a number before it is cast."""
    if backend_of(text) != "postgres" or not text.type().is_string():
        return text.try_cast("float64")
    return ibis.ifelse(text.re_search(NUMBER), text.cast("float64"), None)


def engine_errors() -> tuple[type[Exception], ...]:
    """The exceptions the engines raise for data they cannot read."""
    import duckdb

    errors: list[type[Exception]] = [duckdb.Error]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:
        pass
    try:
        from pyspark.errors import PySparkException

        errors.append(PySparkException)
    except ImportError:
        pass
    return tuple(errors)


# ---- exact money ------------------------------------------------------------------------

EXACT = "decimal(18, 4)"
"""Money is summed as decimals: exact, so the order rows arrive in (threads) never changes a
digit of a sum or a mean."""


def exact_sum(values: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The sum of `values` (where `where` holds), the same whatever the row order."""
    return values.cast(EXACT).sum(where=where).cast("float64")


def exact_mean(values: ir.NumericValue) -> ir.FloatingValue:
    """The mean of `values`, the same whatever the row order, and on every engine (an exact
    sum over a count: Spark's decimal mean keeps only eight decimals)."""
    return exact_sum(values) / values.count()


def exact_ratio(values: ir.NumericValue, count: ir.IntegerValue) -> ir.FloatingValue:
    """`values / count` rounded half away from zero to cents, in whole numbers, so every
    engine gives the same cent (DuckDB divides decimals as doubles: 1208.10 / 4 = 302.02)."""
    units = (values.cast("decimal(38, 4)") * 10_000).cast("int64")  # exact: four decimals
    cents = (2 * units.abs() + 100 * count) // (200 * count)
    return (units.sign() * cents).cast("float64") / 100


def most_common(table: ir.Table, key: str, column: str) -> ir.Table:
    """Per `key`, the most frequent non-null `column` value; ties go to the first in sort
    order, so the choice never depends on the row order."""
    known = table.filter(table[column].notnull())
    counts = known.group_by([key, column]).aggregate(count=known.count())
    order = ibis.window(group_by=key, order_by=[ibis.desc("count"), column])
    ranked = counts.mutate(rank=ibis.row_number().over(order))
    return ranked.filter(ranked["rank"] == 0).select(key, column)
