"""Reading a transaction log (Parquet, CSV or Excel) into the canonical schema, on the engine.

Every source column is renamed to a canonical name (by an explicit column map, else by a
known alias such as `InvoiceNo` or `Customer ID`), parsed to its canonical type, and checked:
a value that does not parse is an `InputError` naming the file, the column and examples.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from upath import UPath

from rfm_pipeline.core import engine
from rfm_pipeline.core.errors import InputError

CANONICAL_SCHEMA = ibis.schema(
    {
        "line_no": "int64",
        "invoice_no": "string",
        "stock_code": "string",
        "description": "string",
        "quantity": "int64",
        "invoice_date": "timestamp",
        "unit_price": "float64",
        "customer_id": "string",
        "country": "string",
    }
)
"""`line_no` is the line's position in the source file (0-based); the rest is the log itself."""

SOURCE_FIELDS = (*CANONICAL_SCHEMA.names[1:], "amount")
"""Canonical names a source column may be mapped to; `amount` stands for quantity x price."""

ALIASES = {
    "invoiceno": "invoice_no",
    "invoice": "invoice_no",
    "invoicenumber": "invoice_no",
    "stockcode": "stock_code",
    "description": "description",
    "quantity": "quantity",
    "invoicedate": "invoice_date",
    "unitprice": "unit_price",
    "price": "unit_price",
    "customerid": "customer_id",
    "country": "country",
    "amount": "amount",
}
"""Source column names recognised without a column map, compared without case or punctuation."""

TIMES = ("", " %H:%M", " %H:%M:%S")
DATE_FORMATS = (
    "%Y%m%d",
    *(f"%Y/%m/%d{time}" for time in TIMES),
    *(
        f"{first}{sep}{second}{sep}%Y{time}"
        for sep in "/-."
        for time in TIMES
        for first, second in (("%m", "%d"), ("%d", "%m"))
    ),
)
"""Date layouts tried, in order, when dates are text that is not ISO 8601: compact
(`19970330`), year first with `/`, and month-first or day-first with `/`, `-` or `.`, each with
or without minutes and seconds. Month-first and day-first are told apart by evidence."""

ISO = "ISO 8601"

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".txt": "csv"}
FORMATS |= {".tsv": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx"}


def detect_format(path: str | Path) -> str:
    """The file format named by the path's suffix."""
    suffix = Path(str(path)).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(path, f"cannot tell the format from '{suffix}'; give parquet, csv or xlsx")
    return FORMATS[suffix]


def read_source(
    con: ibis.BaseBackend,
    path: str | Path,
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    sheet: str | int = 0,
    table: str | None = None,
    line_order: Sequence[str] = (),
    names: Sequence[str] | None = None,
    first_line: int = 0,
) -> ir.Table:
    """The log as the engine sees it: source column names, a `line_no` in file order.

    `path` is a file, a folder or glob of files, an object-store location (`s3://`,
    `gs://`), or a PostgreSQL URL with the `table` to read; a table's line order is its
    `line_no` column, else the order of the `line_order` columns. `names` reads only those
    files of the location, numbering their lines from `first_line`. Parquet files are read
    by the engine itself; other engines get a CSV or Excel file as DuckDB reads it.
    """
    if engine.is_database_url(path):
        return read_table_source(con, str(path), table, line_order)
    files = source_files(path)
    if names is not None:
        files = [file for file in files if file.name in set(names)]
    if len(files) > 1 or files[0] != _location(path) or first_line:
        return read_many(con, files, fmt, encoding, delimiter, sheet, first_line)
    if is_object_store(path):
        if not files[0].is_file():
            raise InputError(path, "not found: no such file, nor files under it")
        reader = engine.connect() if engine.runs_elsewhere(con) else con  # its copy is here
        try:
            log = read_source(
                reader, staged(files[0]), fmt or detect_format(path), encoding, delimiter, sheet
            )
        except InputError as error:  # named as the user named it, not by its local copy
            raise InputError(path, error.problem, error.column, error.values) from None
        return log if reader is con else engine.transfer(log, con)
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "the file is empty")
    fmt = fmt or detect_format(path)
    if fmt != "parquet" and engine.backend_of(con) != "duckdb":
        return engine.transfer(
            read_source(engine.connect(), path, fmt, encoding, delimiter, sheet), con
        )
    with reading(path):
        if fmt == "parquet":
            return engine.read_parquet_in_order(con, path)
        if fmt == "csv":
            options = _csv_options(path, encoding, delimiter)
            table = con.read_csv(path, **options)
            _refuse_repeated_columns(path, _csv_header(path, options["encoding"], delimiter))
        elif fmt == "xlsx":
            # Excel holds at most about a million rows, so reading it whole is fine.
            sheets = pd.ExcelFile(path).sheet_names
            if isinstance(sheet, str) and sheet not in sheets:
                raise InputError(path, f"no sheet '{sheet}' (sheets: {', '.join(sheets)})")
            header = pd.read_excel(path, sheet_name=sheet, header=None, nrows=1, dtype=str)
            _refuse_repeated_columns(path, [str(n) for n in header.iloc[0] if pd.notna(n)])
            return frame_source(con, pd.read_excel(path, sheet_name=sheet, dtype=str))
        else:
            raise InputError(path, f"unknown format '{fmt}'; give parquet, csv or xlsx")
        # DuckDB keeps file order for a plain scan, so the row number is the line number.
        return table.mutate(line_no=ibis.row_number())


def is_object_store(path: str | os.PathLike) -> bool:
    """Whether the location is a URL that fsspec reads: an object store (`s3://bucket/exports/`
    with s3fs, `gs://` with gcsfs: the `[cloud]` extra) or any other fsspec file system."""
    return "://" in str(path) and not engine.is_database_url(path)


def _location(path: str | Path) -> Path | UPath:
    return UPath(path) if is_object_store(path) else Path(path)


def source_files(path: str | Path) -> list[Path | UPath]:
    """The files a log is read from: the file itself; a folder's or an object-store prefix's
    files in a known format, or a glob's matches (`exports/*.csv`), in name order. A path
    that is neither is returned as is, for the reader to say it is not found."""
    location = _location(path)
    try:
        if isinstance(location, UPath):
            location.fs.invalidate_cache()  # list what is there now, not what was seen before
        if location.is_dir():
            known = (p for p in location.iterdir() if p.suffix.lower() in FORMATS)
            found = [p for p in known if not p.name.startswith(".") and p.is_file()]
        elif any(c in location.name for c in "*?["):
            found = [p for p in location.parent.glob(location.name) if p.is_file()]
        else:
            return [location]
    except (ImportError, OSError) as error:  # no s3fs/gcsfs, no bucket, no access
        raise InputError(path, f"cannot list the files: {_reason(error)}") from None
    if not found:
        raise InputError(path, f"no {', '.join(sorted(set(FORMATS.values())))} file in it")
    return sorted(found, key=lambda p: p.name)


def fingerprints(location: str | Path) -> dict[str, str]:
    """Each file of a log's location (see `source_files`), in name order: name -> "size:content
    hash", so a file rewritten under the same name, even to the same size, is told apart. In
    an object store the hash is the store's own (ETag, MD5 or CRC32C), so nothing is read."""
    found = {}
    for file in source_files(location):
        if isinstance(file, UPath):
            info = file.fs.info(file.path)
            tag = next((info[k] for k in ("ETag", "md5Hash", "crc32c") if info.get(k)), None)
            tag = str(tag or file.fs.ukey(file.path)).strip('"')
            found[file.name] = f"{info['size']}:{tag}"
            continue
        if not file.is_file():
            raise InputError(file, "file not found")
        digest = hashlib.blake2b(digest_size=16)
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        found[file.name] = f"{file.stat().st_size}:{digest.hexdigest()}"
    return found


def staged(file: UPath) -> Path:
    """A local copy of an object-store file for the engine to read, fetched once per process."""
    key = hashlib.blake2b(str(file).encode(), digest_size=8).hexdigest()
    local = engine.local_staging() / f"{key}-{file.name}"
    if not local.exists():
        partial = local.with_name(f".{local.name}.part")
        try:
            file.fs.get_file(file.path, str(partial))
        except OSError as error:
            raise InputError(file, f"cannot fetch the file: {_reason(error)}") from None
        partial.replace(local)
    return local


def read_many(
    con: ibis.BaseBackend,
    files: list[Path | UPath],
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    sheet: str | int = 0,
    first_line: int = 0,
) -> ir.Table:
    """Files of one layout as one log, in name order: each file's lines in file order,
    numbered on from the files before it (from `first_line`), so a file added later (a later
    name) never changes the line numbers of the earlier ones. Each file's columns are checked
    from its header or schema; then DuckDB reads them all in one scan (Excel files one by
    one), and the log moves to another engine whole."""
    reader = engine.connect() if engine.backend_of(con) != "duckdb" else con
    kind = fmt or detect_format(files[0])
    for file in files:
        if (fmt or detect_format(file)) != kind:
            raise InputError(file, f"a {detect_format(file)} file among {kind} files")
    if kind == "xlsx":
        log = _excel_files(reader, files, sheet, first_line)
    else:
        local = [staged(f) if isinstance(f, UPath) else f for f in files]
        first = _columns(files[0], local[0], kind, encoding, delimiter)
        for file, path in zip(files[1:], local[1:], strict=True):
            columns = _columns(file, path, kind, encoding, delimiter)
            if columns != first:
                odd = [c for c in columns if c not in first] + [
                    f"no {c}" for c in first if c not in columns
                ]
                raise InputError(
                    file,
                    f"its columns differ from {files[0].name}'s",
                    values=odd or ["(their order)"],
                )
        with reading(files[0].parent):
            if kind == "csv":
                scan = reader.read_csv(local, **_csv_options(local[0], encoding, delimiter))
            else:
                scan = reader.read_parquet(local)
        # one scan in list order: the row number is the line number, as for a single file
        log = scan.mutate(line_no=ibis.row_number() + first_line)
    return log if reader is con else engine.transfer(log, con)


def _columns(
    file: Path | UPath, path: Path, kind: str, encoding: str, delimiter: str | None
) -> list[str]:
    """A file's columns, from its first line (CSV: names) or its schema (Parquet: names and
    types), checked as a single file is: not empty, no name twice. `path` is where it is read
    (an object-store file's local copy); errors name `file`."""
    if path.stat().st_size == 0:
        raise InputError(file, "the file is empty")
    with reading(file):
        if kind == "csv":
            names = _csv_header(path, _duckdb_encoding(file, encoding), delimiter)
        else:
            names = [f"{field.name} {field.type}" for field in pq.read_schema(path)]
    _refuse_repeated_columns(file, names)
    return names


def _excel_files(
    con: ibis.BaseBackend, files: list[Path | UPath], sheet: str | int, first_line: int
) -> ir.Table:
    """Excel files one after another (each at most about a million rows)."""
    tables, offset = [], first_line
    for file in files:
        table = read_source(con, file, "xlsx", sheet=sheet)
        if tables and table.columns != tables[0].columns:
            odd = [c for c in table.columns if c not in tables[0].columns]
            raise InputError(file, f"its columns differ from {files[0].name}'s", values=odd)
        tables.append(table.mutate(line_no=table.line_no + offset))
        offset += int(table.count().execute())
    return ibis.union(*tables, distinct=False)


def _csv_options(path: Path, encoding: str, delimiter: str | None) -> dict[str, object]:
    """How DuckDB reads a CSV export: every column as text, the header's names."""
    options: dict[str, object] = {"all_varchar": True, "header": True}
    options["encoding"] = _duckdb_encoding(path, encoding)
    if delimiter:
        options["delim"] = delimiter
    return options


def read_table_source(
    con: ibis.BaseBackend, url: str, table: str | None, line_order: Sequence[str] = ()
) -> ir.Table:
    """A database table as a source: `line_no` from its column of that name, else numbered
    in the order of the `line_order` columns (a timestamp and a tie-breaker, say)."""
    label = engine.redact(url)
    if not table:
        raise InputError(label, "a database input needs the table to read (--table NAME)")
    label = f"{label} table {table}"
    try:
        source = engine.read_database_table(con, url, table)
    except ibis.common.exceptions.TableNotFound:
        raise InputError(label, "no such table in the database") from None
    except engine.engine_errors() as error:
        raise InputError(label, f"cannot read the table: {_reason(error)}") from None
    if "line_no" in source.columns:
        return source
    if not line_order:
        raise InputError(
            label,
            "no line_no column to keep the lines' order; name the columns that order them"
            " with --line-order (e.g. --line-order InvoiceDate,InvoiceNo)",
        )
    missing = [c for c in line_order if c not in source.columns]
    if missing:
        shown = ", ".join(source.columns[:12])
        raise InputError(
            label, f"--line-order names columns not in the table (it has {shown})", values=missing
        )
    return source.mutate(line_no=ibis.row_number().over(order_by=list(line_order)))


def _csv_header(path: Path, encoding: str, delimiter: str | None) -> list[str]:
    """The names on a CSV file's first line, as written (the engine renames repeated ones)."""
    with path.open(encoding=encoding.replace("-", "_"), newline="") as handle:
        first = handle.readline()
    if delimiter is None:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter if first else ","
    return next(csv.reader([first], delimiter=delimiter), [])


def _refuse_repeated_columns(path: Path, names: list[str]) -> None:
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(path, "several columns have the same name", values=repeated)


def resolve_columns(
    columns: list[str], column_map: Mapping[str, str], path: str | Path
) -> dict[str, str]:
    """Canonical name -> source column, from the explicit map first and known aliases after."""
    chosen: dict[str, str] = {}
    for source, target in column_map.items():
        if source not in columns:
            shown = ", ".join(columns[:12])
            raise InputError(
                path, f"the column map names '{source}', which is not in the file (it has {shown})"
            )
        if target not in SOURCE_FIELDS:
            raise InputError(
                path, f"the column map's target '{target}' is not one of {', '.join(SOURCE_FIELDS)}"
            )
        chosen[target] = source
    for source in columns:
        target = ALIASES.get(re.sub(r"[^a-z]", "", source.lower()))
        if target and target not in chosen and source not in column_map:
            chosen[target] = source
    missing = [name for name in ("customer_id", "invoice_date") if name not in chosen]
    if not ("amount" in chosen or {"quantity", "unit_price"} <= chosen.keys()):
        missing += [n for n in ("quantity", "unit_price") if n not in chosen] or ["amount"]
    if missing:
        raise InputError(
            path,
            f"missing required column {', '.join(missing)} (the file has {', '.join(columns[:12])};"
            " map one with --map SOURCE=TARGET)",
        )
    return chosen


@dataclass(frozen=True)
class Log:
    """A transaction log in the canonical schema, and how its dates were read."""

    table: ir.Table
    date_layout: str  # the strptime layout, or "ISO 8601", and the evidence for it
    date_format: str | None  # the strptime layout used; None for ISO 8601 or typed dates
    columns: tuple[str, ...]  # the source's columns as the engine read them ("name type")


def read_transactions(con: ibis.BaseBackend, path: str | Path, **reading: object) -> ir.Table:
    """The transaction log in the canonical schema, checked: bad values raise `InputError`.
    `reading` is `read_log`'s options."""
    return read_log(con, path, **reading).table


def read_log(
    con: ibis.BaseBackend,
    path: str | Path,
    fmt: str | None = None,
    encoding: str = "utf-8",
    delimiter: str | None = None,
    column_map: Mapping[str, str] | None = None,
    date_format: str | None = None,
    sheet: str | int = 0,
    table: str | None = None,
    line_order: Sequence[str] = (),
    names: Sequence[str] | None = None,
    first_line: int = 0,
) -> Log:
    """The log read (see `read_source`), canonicalised and checked, with its date layout."""
    source = read_source(
        con, path, fmt, encoding, delimiter, sheet, table, line_order, names, first_line
    )
    label = engine.redact(path)
    if engine.is_database_url(path):
        label += f" table {table}"
    elif (
        not is_object_store(path)
        and source_files(path) == [Path(path)]
        and (fmt or detect_format(path)) == "xlsx"
    ):
        # errors say which sheet was read
        sheets = pd.ExcelFile(path).sheet_names
        if len(sheets) > 1:
            name = sheets[sheet] if isinstance(sheet, int) else sheet
            label += f" (sheet '{name}' of {', '.join(sheets)}; choose one with --sheet)"
    return canonical_log(source, label, column_map, date_format)


def frame_source(con: ibis.BaseBackend, frame: pd.DataFrame) -> ir.Table:
    """An in-memory log (source column names) on the engine, as a file is: with `line_no`."""
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.assign(line_no=np.arange(len(frame), dtype="int64"))
    return con.create_table(ibis.util.gen_name("frame"), frame, temp=True)


def canonical_log(
    source: ir.Table,
    path: str | Path,
    column_map: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> Log:
    """The source table renamed, parsed and checked, with the date layout used."""
    names = [c for c in source.columns if c != "line_no"]
    chosen = resolve_columns(names, column_map or {}, path)
    named = source.select("line_no", **{canon: source[src] for canon, src in chosen.items()})
    if named.invoice_date.type().is_integer():  # 19970330: a compact date, as a number
        named = named.mutate(invoice_date=named.invoice_date.cast("string"))
    layout = f"{date_format} (configured)" if date_format else "date and time values"
    with reading(path):
        if named.count().execute() == 0:
            raise InputError(path, "the file has a header but no rows")
        if not date_format and named.invoice_date.type().is_string():
            date_format, layout = detect_date_format(named.invoice_date)
        parsers = _parsers(named, date_format)
        _check_parsed(named, parsers, chosen, path, layout)
    columns = tuple(f"{n} {t}" for n, t in source.schema().items() if n != "line_no")
    return Log(_canonical(named, parsers), layout, date_format, columns)


def _parsers(named: ir.Table, date_format: str | None) -> dict[str, ir.Value]:
    """Each present column parsed to its canonical type; a value that fails becomes NULL."""
    parsed: dict[str, ir.Value] = {}
    for name in ("quantity", "unit_price", "amount"):
        if name in named.columns:
            column = named[name]
            number = engine.parse_number(column.strip() if column.type().is_string() else column)
            if name == "quantity":  # a whole number, or it does not parse
                whole = number % 1 == 0  # false for inf and nan
                number = ibis.ifelse(whole, number, None).cast("int64")
            parsed[name] = number
    date = named.invoice_date
    if date.type().is_string():
        date = date.strip()
        parsed["invoice_date"] = engine.parse_timestamp(date, date_format)
    else:
        parsed["invoice_date"] = date.cast("timestamp")
    return parsed


def _check_parsed(
    named: ir.Table,
    parsers: Mapping[str, ir.Value],
    chosen: Mapping[str, str],
    path: str | Path,
    layout: str,
) -> None:
    """Raise `InputError` for the first column with values that did not parse, naming its first
    three such values in file order."""
    failed = {name: named[name].notnull() & parser.isnull() for name, parser in parsers.items()}
    counts = named.aggregate(**{name: bad.sum() for name, bad in failed.items()}).execute()
    for name, bad in failed.items():
        if int(counts[name].iloc[0] or 0):
            wrong = named.filter(bad)
            examples = wrong.group_by(value=wrong[name].cast("string")).aggregate(
                first=wrong.line_no.min()
            )  # the first three in file order, the same on every run
            values = examples.order_by("first").limit(3).execute()["value"].tolist()
            if name == "invoice_date":
                what = f"values that are not a date (read as {layout}; give --date-format)"
            else:
                what = "values that are not a number"
            raise InputError(path, what, chosen[name], values)


def _canonical(named: ir.Table, parsers: Mapping[str, ir.Value]) -> ir.Table:
    """The canonical columns, with absent optional ones derived or left NULL; text kept as is."""
    columns = named.columns
    if "amount" in parsers and "quantity" not in parsers:
        quantity, unit_price = ibis.literal(1, "int64"), parsers["amount"]
    else:
        quantity, unit_price = parsers["quantity"], parsers["unit_price"]
    customer = _customer_id(named.customer_id)
    date = parsers["invoice_date"]
    if "invoice_no" in columns:
        invoice = named.invoice_no.cast("string")
    else:  # without invoice numbers, each customer-day is one invoice
        invoice = day_invoice(customer, date)

    def text(name: str) -> ir.Value:
        if name not in columns:
            return ibis.null("string")
        return named[name].cast("string")

    return named.select(
        line_no=named.line_no.cast("int64"),
        invoice_no=invoice,
        stock_code=text("stock_code"),
        description=text("description"),
        quantity=quantity,
        invoice_date=date,
        unit_price=unit_price,
        customer_id=customer,
        country=text("country"),
    )


def day_invoice(customer: ir.StringValue, date: ir.TimestampValue) -> ir.StringValue:
    """The invoice number of a line in a log without them: one per customer and day, the day
    first ("20110105-C17"), so that no customer id makes it look like a cancellation."""
    return date.strftime("%Y%m%d").concat("-", customer)


def given_columns(raw: ir.Table) -> list[str]:
    """The canonical columns a canonical log holds values for, in schema order, as its lines
    show: a text column NULL on every line was absent (or blank), invoice numbers that are
    all `day_invoice`s were made here, and a quantity of 1 on every line makes the unit price
    the line's `amount` (listed in its place)."""
    made = raw.invoice_no == day_invoice(raw.customer_id, raw.invoice_date)
    row = (
        raw.aggregate(
            invoice_no=(~made).fill_null(False).any(),
            amount=(raw.quantity == 1).fill_null(False).all(),
            **{c: raw[c].notnull().any() for c in ("stock_code", "description", "country")},
        )
        .execute()
        .iloc[0]
    )
    given = [c for c in CANONICAL_SCHEMA.names[1:] if bool(row.get(c, True))]
    if bool(row["amount"]):
        given = ["amount" if c == "unit_price" else c for c in given if c != "quantity"]
    return given


def _customer_id(column: ir.Value) -> ir.StringValue:
    """Customer ids as text without a float's trailing `.0` ("17850", never "17850.0")."""
    if column.type().is_numeric():
        return column.cast("int64").cast("string")
    text = column.cast("string").strip().re_replace(r"\.0+$", "")
    return text.nullif("")


def detect_date_format(dates: ir.StringValue) -> tuple[str | None, str]:
    """The layout (None for ISO 8601) that reads most of a sample of the dates, first on ties,
    and the evidence for it. Month-first and day-first are told apart by the whole column: a
    first number above 12 can only be a day, and so can a second one; with no such date at all
    the dates are read month-first, and the layout says so."""
    sample = dates.name("date").as_table().filter(lambda t: t.date.notnull()).limit(1000).date
    sample = sample.strip()
    candidates = (None, *DATE_FORMATS)
    parsed = {
        f"f{i}": engine.parse_timestamp(sample, fmt).isnull().sum()
        for i, fmt in enumerate(candidates)
    }
    misses = sample.as_table().aggregate(**parsed).execute().iloc[0]
    best = min(range(len(candidates)), key=lambda i: (int(misses[f"f{i}"]), i))
    fmt = candidates[best]
    if fmt is None:
        return None, ISO
    twin = _swapped(fmt)
    if twin is None:
        return fmt, fmt
    text = dates.strip()
    numbers = r"^(\d{1,2})[/.-](\d{1,2})[/.-]"
    first = text.re_extract(numbers, 1).try_cast("int64")
    second = text.re_extract(numbers, 2).try_cast("int64")
    counts = (
        dates.name("date")
        .as_table()
        .aggregate(day_first=(first > 12).sum(), month_first=(second > 12).sum())
        .execute()
        .iloc[0]
    )
    day_first, month_first = int(counts["day_first"] or 0), int(counts["month_first"] or 0)
    month_layout, day_layout = (fmt, twin) if fmt.startswith("%m") else (twin, fmt)
    if day_first and not month_first:
        return day_layout, f"{day_layout} (day first: {day_first:,} dates have a day above 12)"
    if month_first and not day_first:
        found = f"{month_first:,} dates have a day above 12"
        return month_layout, f"{month_layout} (month first: {found})"
    if not day_first:
        return month_layout, f"{month_layout} (no day above 12 anywhere: month first assumed)"
    return fmt, f"{fmt} (dates of both orders: the layout that reads most of them)"


def _swapped(fmt: str) -> str | None:
    """The same layout with day and month swapped; None for a layout that is not ambiguous."""
    for first, second in (("%m", "%d"), ("%d", "%m")):
        if fmt.startswith(first) and fmt[2:].startswith(fmt[2]) and fmt[3:5] == second:
            return second + fmt[2] + first + fmt[5:]
    return None


def _duckdb_encoding(path: Path, encoding: str) -> str:
    """The engine's name for a text encoding it can read."""
    names = {"utf8": "utf-8", "utf-8": "utf-8", "latin1": "latin-1", "latin-1": "latin-1"}
    names |= {"iso-8859-1": "latin-1", "iso8859-1": "latin-1", "utf-16": "utf-16"}
    key = encoding.lower().replace("_", "-")
    if key not in names:
        raise InputError(path, f"unsupported encoding '{encoding}' (use utf-8, latin-1 or utf-16)")
    return names[key]


@contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn the engine's and the Excel reader's errors about a file into an `InputError`."""
    try:
        yield
    except (*engine.engine_errors(), ValueError, OSError, KeyError) as error:
        raise InputError(path, f"cannot read the file: {_reason(error)}") from error


def _reason(error: Exception) -> str:
    """The engine's reason in one line: for a CSV error, where it is and what is wrong there."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    reason = lines[0]
    if "CSV Error on Line" in reason:
        detail = next((x for x in lines[1:] if not x.startswith("Original Line")), "")
        reason = f"{reason}: {detail}" if detail else reason
    if "encod" in reason.lower():
        reason += " (give the file's encoding with --encoding)"
    return reason


def summarise(raw: ir.Table) -> dict[str, object]:
    """Row count, period, distinct customers, invoices and products, nulls per column."""
    nulls = {f"nulls_{c}": raw[c].isnull().sum() for c in raw.columns if c != "line_no"}
    row = (
        raw.aggregate(
            rows=raw.count(),
            first_invoice_date=raw.invoice_date.min(),
            last_invoice_date=raw.invoice_date.max(),
            customers=raw.customer_id.nunique(),
            invoices=raw.invoice_no.nunique(),
            products=raw.stock_code.nunique(),
            **nulls,
        )
        .execute()
        .iloc[0]
    )
    summary = {
        k: (int(v) if k not in ("first_invoice_date", "last_invoice_date") else v)
        for k, v in row.items()
        if not k.startswith("nulls_")
    }
    summary["nulls"] = {k.removeprefix("nulls_"): int(row[k]) for k in nulls}
    return summary
