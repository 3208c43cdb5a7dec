"""The `rfm-pipeline` command: materialise the assets in process, against the project's instance.

Exit codes: 0 success, 2 bad input or arguments (one line on stderr), 1 any other failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """A command-line argument that cannot be used."""


def parse_map(pairs: Sequence[str]) -> dict[str, str]:
    """`SRC=DST` pairs into a column map."""
    column_map = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--map expects SOURCE=TARGET, got '{pair}'")
        column_map[source] = target
    return column_map


def parse_date(text: str | None) -> str | None:
    """A YYYY-MM-DD date, checked."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise UsageError(f"--as-of expects YYYY-MM-DD, got '{text}'") from None


def positive(text: str) -> int:
    """A whole number of at least 1, for argparse."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expects a whole number of at least 1, got '{text}'")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rfm-pipeline", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="materialise the assets (default: all) on a log")
    run.add_argument("--input", help="transaction log (default: the bundled UCI data)")
    add_reading_options(run)
    run.add_argument("--as-of", help="YYYY-MM-DD; default: the day after the last invoice")
    run.add_argument(
        "--week",
        help="a week's Monday, or FROM:TO for every week between, each as of the Monday that"
        " ends it (default: the week of the as-of date)",
    )
    run.add_argument("--warehouse", help="output folder (default: data/warehouse)")
    run.add_argument("--select", help="comma-separated asset names (default: all)")
    run.add_argument("--threads", type=int, help="engine threads (default: all cores)")
    run.add_argument(
        "--cutoffs",
        type=positive,
        help="monthly cut-offs value_backtest scores (default 4; fewer is quicker, and the"
        " forecast's weights then rest on fewer quarters)",
    )
    run.add_argument(
        "--engine",
        choices=["duckdb", "spark", "postgres"],
        default="duckdb",
        help="where the transaction-level assets run (default: duckdb, in process)",
    )
    run.add_argument(
        "--spark-master",
        default="local[2]",
        help="Spark master: local[N], spark://host:7077, or a Spark Connect server's"
        " sc://host:15002 (default local[2])",
    )
    run.add_argument(
        "--spark-staging",
        help="with a Spark cluster or Connect server: where tables moved to it are staged, a"
        " folder every host mounts or s3a://bucket/prefix",
    )
    run.add_argument(
        "--database",
        help="postgresql://user@host:port/db for --engine postgres"
        " (default: the --input database); the password from PGPASSWORD or ~/.pgpass",
    )
    run.add_argument(
        "--export-to", help="also write segment_export to a table of this postgresql:// database"
    )
    run.add_argument("--export-table", default="segments", help="its table (default: segments)")
    predict = commands.add_parser("predict", help="segment the customers of a transactions file")
    predict.add_argument("--transactions", required=True, help="the transactions file")
    add_reading_options(predict)
    predict.add_argument("--as-of", help="YYYY-MM-DD; default: the day after the last invoice")
    predict.add_argument("--out", required=True, help="where to write: FILE.csv or FILE.parquet")
    predict.add_argument(
        "--warehouse", help="where the saved classifier is (default: data/warehouse)"
    )
    demo = commands.add_parser(
        "demo",
        help="replay the bundled data as daily exports, a week at a time, into the"
        " weekly job (its own warehouse and instance under --folder)",
    )
    demo.add_argument("--weeks", type=int, default=3, help="weeks replayed (default 3)")
    demo.add_argument("--folder", help="where everything goes (default: data/demo)")
    return parser


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["parquet", "csv", "xlsx"], help="default: from suffix")
    parser.add_argument("--encoding", default="utf-8", help="CSV text encoding (default utf-8)")
    parser.add_argument("--sheet", help="Excel sheet name or 0-based index (default: the first)")
    parser.add_argument(
        "--date-format",
        help="strptime layout of the dates, e.g. %%d/%%m/%%Y (default: recognised; see README)",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="SRC=DST",
        help="rename a source column to a canonical one, e.g. --map Price=unit_price",
    )
    parser.add_argument("--table", help="with a postgresql:// input: the table to read")
    parser.add_argument(
        "--line-order",
        metavar="COLUMNS",
        help="a table without a line_no column: the columns (comma-separated) that order its"
        " lines, e.g. InvoiceDate,InvoiceNo",
    )


def parse_weeks(text: str, first: dt.date) -> list[dt.date]:
    """`--week MONDAY` or `--week FROM:TO` as the Mondays it names, checked."""
    start, _, end = text.partition(":")
    bounds = []
    for part in (start, end or start):
        try:
            day = dt.date.fromisoformat(part)
        except ValueError:
            raise UsageError(f"--week expects YYYY-MM-DD or FROM:TO, got '{text}'") from None
        if day.weekday() != 0:
            raise UsageError(f"--week: {part} is a {day:%A}; weeks start on Monday")
        if day < first:
            raise UsageError(f"--week: {part} is before the first week, {first}")
        bounds.append(day)
    if bounds[1] < bounds[0]:
        raise UsageError(f"--week: {end} is before {start}")
    return [bounds[0] + dt.timedelta(weeks=n) for n in range((bounds[1] - bounds[0]).days // 7 + 1)]


READING_OPTIONS = ("input", "format", "sheet", "date_format", "map", "table", "line_order")
"""Options that say how to read a log; `encoding` has a default, so it counts when changed."""


def reading_config(args: argparse.Namespace, path: str | None) -> dict[str, object]:
    """`IngestConfig` fields from the reading options: the one place they are translated."""
    from rfm_pipeline.core.engine import is_database_url
    from rfm_pipeline.core.ingest import is_object_store

    config: dict[str, object] = {"encoding": args.encoding, "column_map": parse_map(args.map)}
    if path and not is_database_url(path) and not is_object_store(path):
        path = os.path.abspath(path)
    for field, value in (
        ("path", path and without_password(path)),
        ("format", args.format),
        ("sheet", args.sheet),
        ("date_format", args.date_format),
        ("table", args.table),
    ):
        if value:
            config[field] = value
    if args.line_order:
        config["line_order"] = [c.strip() for c in args.line_order.split(",") if c.strip()]
    return config


def without_password(url: str) -> str:
    """A database URL for run config, which the UI shows: its password moves to `PGPASSWORD`,
    where libpq looks for it (so does `~/.pgpass`)."""
    from rfm_pipeline.core.engine import split_password

    url, password = split_password(url)
    if password:
        os.environ["PGPASSWORD"] = password
    return url


def reading_options_given(args: argparse.Namespace) -> list[str]:
    given = [f"--{o.replace('_', '-')}" for o in READING_OPTIONS if getattr(args, o, None)]
    return given + (["--encoding"] if args.encoding != "utf-8" else [])


# a line per step as it runs, then the CLI's own summary and errors; Dagster's full log stays
# in the instance and the UI
LOGGERS = {"console": {"config": {"log_level": "CRITICAL"}}, "progress": {}}


def warehouse_of(args: argparse.Namespace) -> str:
    """The command's warehouse: `--warehouse`, else `$RFM_PIPELINE_WAREHOUSE` or data/warehouse/
    (passed to the runs as the warehouse resource's config, never through the environment)."""
    from rfm_pipeline.settings import warehouse_path

    return os.path.abspath(args.warehouse) if args.warehouse else warehouse_path()


def project_instance():
    """The project's Dagster instance (`$DAGSTER_HOME`, else .dagster_home/), opened for this
    command without changing the process's environment."""
    import dagster as dg

    from rfm_pipeline.settings import dagster_home

    return dg.DagsterInstance.from_config(str(dagster_home()))


def run_config(args: argparse.Namespace, selected: set[str], as_of: str | None = None) -> dict:
    """Run config for the selected assets from the command-line options."""
    ops: dict[str, dict] = {}
    if "raw_transactions" in selected:
        ops["raw_transactions"] = {"config": reading_config(args, args.input)}
    if "rfm_table" in selected and as_of:
        ops["rfm_table"] = {"config": {"as_of": as_of}}
    if "value_backtest" in selected and args.cutoffs:
        ops["value_backtest"] = {"config": {"cutoff_count": args.cutoffs}}
    if "segment_export" in selected and args.export_to:
        export = {"database": without_password(args.export_to), "table": args.export_table}
        ops["segment_export"] = {"config": export}
    return {
        "ops": ops,
        "loggers": LOGGERS,
        "resources": {
            "warehouse": {"config": {"base_path": warehouse_of(args)}},
        },
    }


def engine_config(args: argparse.Namespace) -> dict[str, object]:
    """The engine resource's config from `--engine`, `--spark-master` and `--database`."""
    from rfm_pipeline.core.engine import is_database_url

    config: dict[str, object] = {"backend": args.engine, "spark_master": args.spark_master}
    if args.spark_staging:
        config["spark_staging"] = args.spark_staging
    if args.threads:
        config["threads"] = args.threads
    database = args.database or (args.input if args.input and is_database_url(args.input) else None)
    if args.engine == "postgres":
        if not database:
            raise UsageError("--engine postgres needs --database postgresql://user@host/db")
        config["database"] = without_password(database)
    return config


def resolve_selection(text: str, graph, known: set[str]) -> set[str]:
    """`--select`: comma-separated asset names or clauses of Dagster's selection syntax
    (`+customer_segments`, `customer_segments+`, `group:rfm`, `kind:umap`); an asset made
    with others in one step (`clean_transactions` and `cleaning_summary`) brings them along."""
    import dagster as dg

    selected: set[str] = set()
    for clause in (c.strip() for c in text.split(",") if c.strip()):
        name = clause.strip("+")
        if ":" not in name and name not in known:
            raise UsageError(f"--select: unknown asset {name} (known: {', '.join(sorted(known))})")
        if ":" not in name:
            clause = clause.replace(name, f'key:"{name}"')
        try:
            chosen = dg.AssetSelection.from_string(clause).required_multi_asset_neighbors()
            keys = chosen.resolve(graph)
        except Exception as error:  # the selection parser's own message
            raise UsageError(f"--select: cannot read '{clause}': {error}") from None
        if not keys:
            raise UsageError(f"--select: '{clause}' selects no asset")
        selected |= {key.to_user_string() for key in keys}
    return selected


def last_invoice_as_of(warehouse: str) -> dt.date:
    """The day after the last invoice of the cleaned transactions in the warehouse."""
    from upath import UPath

    from rfm_pipeline.core.engine import connect
    from rfm_pipeline.core.rfm import default_as_of

    path = UPath(warehouse) / "clean_transactions.parquet"
    if not path.exists():
        raise UsageError(f"{path} does not exist: select clean_transactions too, or pass --as-of")
    return default_as_of(connect().read_parquet(str(path)))


def as_of_week(as_of: str | None, first_week: dt.date, warehouse: str) -> list[dt.date]:
    """The week the as-of date closes (default: the day after the last invoice)."""
    from rfm_pipeline.core.weeks import week_of_as_of

    as_of = as_of or last_invoice_as_of(warehouse).isoformat()
    week = week_of_as_of(dt.date.fromisoformat(as_of))
    if week < first_week:
        raise UsageError(
            f"the as-of date {as_of} falls before the first week of the warehouse's data,"
            f" {first_week}"
        )
    return [week]


def run(args: argparse.Namespace) -> int:
    """Materialise the selection in process, as the UI would; print what was built.

    The transaction-level assets run first, as one run; then the customer-level assets run
    once per week, in order, as a backfill does: the week of the as-of date (default: the day
    after the last invoice), or each week of `--week`. A run that fails puts back what it
    replaced (the warehouse resource does, however a run is launched) and stops the command,
    which puts back its earlier runs too (`settle`): never tables of two logs side by side.
    """
    as_of = parse_date(args.as_of)
    if args.week and as_of:
        raise UsageError("--week and --as-of exclude each other: a week is as of its end")
    import dagster as dg

    from rfm_pipeline import settings

    settings.serve(warehouse_of(args))  # its weeks, where these definitions load first
    from rfm_pipeline.definitions import project_definitions
    from rfm_pipeline.defs.resources import GROUP_TAG, Engine
    from rfm_pipeline.defs.weeks import WEEKLY_ASSETS, weeks

    defs = project_definitions(Engine(**engine_config(args)))
    first_week = weeks.start.date()
    chosen_weeks = parse_weeks(args.week, first_week) if args.week else []
    job = defs.resolve_job_def("everything")
    known = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    graph = defs.resolve_asset_graph()
    selected = resolve_selection(args.select, graph, known) if args.select else known
    given = reading_options_given(args)
    if given and "raw_transactions" not in selected:
        raise UsageError(
            f"{' '.join(given)} only apply when raw_transactions runs: add it to --select"
            f" (for example --select +{sorted(selected)[0]}), or leave the option out to use"
            " the stored raw_transactions"
        )
    weekly = selected & set(WEEKLY_ASSETS)
    checks = graph.asset_check_keys
    results = []
    group = {GROUP_TAG: uuid.uuid4().hex}  # the command's runs stand or fall together

    def execute(names: set[str], week: dt.date | None = None, as_of: str | None = None) -> bool:
        subset = job.get_subset(
            asset_selection={dg.AssetKey(name) for name in names},
            asset_check_selection={c for c in checks if c.asset_key.to_user_string() in names},
        )
        result = subset.execute_in_process(
            run_config=run_config(args, names, as_of),
            instance=instance,
            partition_key=week.isoformat() if week else None,
            raise_on_error=False,
            tags=group,
        )
        results.append(result)
        return result.success

    warehouse = warehouse_of(args)
    with project_instance() as instance:
        try:
            done = execute(selected - weekly) if selected - weekly else True
            if done and weekly and not chosen_weeks:
                chosen_weeks = as_of_week(as_of, first_week, warehouse)
            for week in chosen_weeks if weekly else []:
                done = done and execute(weekly, week, as_of)
        except BaseException:  # a bad --as-of, an interrupt: the runs so far are put back
            if error := settle(instance, warehouse, [r.run_id for r in results], False).error:
                print(f"error: the command stopped, and {error}", file=sys.stderr)
            raise
        undone = settle(instance, warehouse, [r.run_id for r in results], done)
    for result in results:
        print_summary(result)
    if not done:
        kind, message = failure_message(results[-1])
        if undone.error:
            print(f"error: {message}; then {undone.error}", file=sys.stderr)
            return 1
        if undone.files:
            print(f"\nput back {undone.files} files of this command's earlier runs too")
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT if kind == "InputError" else 1
    return 0


@dataclass
class PutBack:
    """What `settle` put back: files, and why that failed if it did (one line)."""

    files: int = 0
    error: str | None = None


def settle(instance, warehouse: str, runs: list[str], done: bool) -> PutBack:
    """End the command's runs as one: when all succeeded, drop their kept copies; otherwise
    put back every run, newest first (a failed run has put back its own, unless that failed
    too), recorded in the instance. A put-back that fails stops there and leaves every copy
    left to the next run, which restores them in the same order."""
    from upath import UPath

    from rfm_pipeline.core.storage import Journal
    from rfm_pipeline.defs.resources import put_back, put_back_failed

    journals = [Journal(UPath(warehouse), run) for run in reversed(runs)]
    if done:
        for journal in journals:
            journal.forget()
        return PutBack()
    files = 0
    for journal in journals:
        try:
            files += put_back(instance, journal, set(runs), runs[-1])[0]
        except Exception as error:
            for left in journals:
                left.release()
            return PutBack(files, put_back_failed(journal, error, UPath(warehouse) / ".previous"))
    return PutBack(files)


def failure_message(result) -> tuple[str, str]:
    """The first failed step's root cause (else the run's, such as a resource that could not
    start): its exception class name and one-line message."""
    errors = [getattr(e.event_specific_data, "error", None) for e in result.all_events]
    steps = [e.event_specific_data.error for e in result.all_events if e.is_step_failure]
    for error in steps or [error for error in errors if error is not None]:
        while error.cause is not None and error.cls_name != "InputError":
            error = error.cause
        message = " ".join(error.message.split())
        return error.cls_name or "", message.split(f"{error.cls_name}: ", 1)[-1]
    return "", "the run failed"


def print_summary(result) -> None:
    """One line per materialised asset, then the cleaning funnel and the segments if they ran."""
    week = result.dagster_run.tags.get("dagster/partition")
    if week:
        print(f"\nweek {week}")
    tables = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        name = materialization.asset_key.to_user_string()
        rows = materialization.metadata.get("dagster/row_count")
        print(f"materialised {name:<24} {f'{rows.value:,} rows' if rows is not None else ''}")
        tables[name] = materialization.metadata
    if "clean_transactions" in tables:
        print("\ncleaning funnel")
        print(f"  {'step':<32} {'removed':>9} {'rows after':>11}")
        for record in tables["clean_transactions"]["funnel"].records:
            row = record.data
            print(f"  {row['step']:<32} {row['rows_removed']:>9,} {row['rows_after']:>11,}")
    if "segment_profiles" in tables:
        print("\nsegments")
        header = (
            "segment",
            "customers",
            "revenue",
            "recency",
            "frequency",
            "monetary",
            "expected",
            "to buy",
        )
        print(f"  {header[0]:<28}" + "".join(f"{h:>11}" for h in header[1:]))
        for record in tables["segment_profiles"]["profiles"].records:
            row = record.data
            spend = next((v for k, v in row.items() if k.startswith("expected_spend_")), None)
            print(
                f"  {row['segment_name']:<28}{row['customers']:>11,}{row['revenue_share']:>11.1%}"
                f"{row['recency_mean']:>11.1f}{row['frequency_mean']:>11.1f}"
                f"{row['monetary_mean']:>11,.0f}{_figure(spend, ',.0f')}"
                f"{_figure(row.get('likely_active_share'), '.0%')}"
            )
    if "segment_report" in tables:
        print(f"\nreport: {tables['segment_report']['path'].value}")


def _figure(value: float | None, spec: str) -> str:
    """A right-aligned column of `print_summary`; blank where there is no figure."""
    return f"{value:>11{spec}}" if value is not None and value == value else " " * 11


def predict(args: argparse.Namespace) -> int:
    """Score a transactions file with the saved classifier (the `score_new_customers` job, in
    process, as the UI runs it); print how many customers got which segment."""
    as_of = parse_date(args.as_of)
    if not args.out.endswith((".csv", ".parquet")):
        raise UsageError(f"--out must end in .csv or .parquet, got '{args.out}'")
    import pandas as pd

    from rfm_pipeline.definitions import defs

    out = os.path.abspath(args.out)
    config = {**reading_config(args, args.transactions), "out": out, "as_of": as_of}
    resources = {"warehouse": {"config": {"base_path": warehouse_of(args)}}}
    with project_instance() as instance:
        result = defs.resolve_job_def("score_new_customers").execute_in_process(
            run_config={
                "ops": {"score_transactions": {"config": config}},
                "loggers": LOGGERS,
                "resources": resources,
            },
            instance=instance,
            raise_on_error=False,
        )
    if not result.success:
        kind, message = failure_message(result)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT if kind == "InputError" else 1
    scored = pd.read_csv(out) if out.endswith(".csv") else pd.read_parquet(out)
    print(f"scored {int(scored['segment_id'].notna().sum()):,} of {len(scored):,} customers")
    for name, count in scored["segment_name"].value_counts().items():
        print(f"  {name:<28}{count:>8,}")
    for reason, count in scored["reason"].value_counts().items():
        print(f"  not scored: {reason}: {count:,}")
    print(f"wrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from rfm_pipeline.demo import DEMO_FOLDER, demo

            if args.weeks < 1:
                raise UsageError(f"--weeks must be 1 or more, got {args.weeks}")
            folder = os.path.abspath(args.folder) if args.folder else DEMO_FOLDER
            return demo(main, Path(folder), args.weeks)
        return run(args) if args.command == "run" else predict(args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
