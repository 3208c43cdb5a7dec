"""The engine every transaction-level asset runs on, and the warehouse every output goes to."""

import os
from collections.abc import Callable
from typing import Literal

import dagster as dg
import ibis
from pydantic import Field, PrivateAttr
from upath import UPath

from rfm_pipeline.core.engine import redact, shared_connection, spark_description
from rfm_pipeline.core.storage import Journal, copy_file
from rfm_pipeline.settings import warehouse_path


class Engine(dg.ConfigurableResource):
    """Where the transaction-level assets run: DuckDB in process (the default), Spark (local
    mode or a cluster's master URL) or a PostgreSQL database, all through the same Ibis
    expressions. DuckDB spills to `temp_directory` past `memory_limit`. Give a database
    URL without its password: libpq reads `PGPASSWORD` and `~/.pgpass` as usual."""

    backend: Literal["duckdb", "spark", "postgres"] = Field(
        default="duckdb",
        description="Where the transaction-level work runs: duckdb (in this process), spark or"
        " postgres. duckdb: nothing to install or start, and it spills to disk past its memory"
        " limit.",
    )
    memory_limit: str = Field(
        default="4GB",
        description="DuckDB's memory cap, written as DuckDB writes sizes (4GB, 500MB); past it,"
        " DuckDB spills to temp_directory. 4GB keeps 100 million lines within a laptop's memory.",
    )
    threads: int | None = Field(
        default=None,
        description="DuckDB's threads. None: all cores; the results are the same on any number of"
        " threads.",
    )
    temp_directory: str | None = Field(
        default=None,
        description="Folder DuckDB spills to past memory_limit; point it at a disk with room."
        " None: DuckDB's default, a .tmp folder in the working directory.",
    )
    spark_master: str = Field(
        default="local[2]",
        description="Spark's master URL for the spark backend: local[N] for N cores of this"
        " machine, a cluster's spark://host:7077 (or yarn, k8s://...), or a Spark Connect"
        " server's sc://host:15002 (Databricks Connect and Connect-compatible engines too)."
        " local[2]: a light local default for trying Spark.",
    )
    spark_staging: str | None = Field(
        default=None,
        description="Where a Spark session off this machine (a cluster or a Connect server)"
        " stages the tables moved to it (a CSV or Excel log, say): a folder every host mounts"
        " at the same path, or an object store (s3a://bucket/prefix). None: this machine's"
        " temporary folder, which only a local[N] session can read; others are refused.",
    )
    database: str | None = Field(
        default=None,
        description="PostgreSQL URL for the postgres backend (postgresql://user@host:5432/db),"
        " without the password: it comes from PGPASSWORD or ~/.pgpass. None: no database, the"
        " other backends need none.",
    )

    @classmethod
    def from_environment(cls) -> "Engine":
        """The engine a code location is deployed with: `RFM_PIPELINE_ENGINE`,
        `RFM_PIPELINE_SPARK_MASTER`, `RFM_PIPELINE_SPARK_STAGING` and `RFM_PIPELINE_DATABASE`
        where set, else the defaults (DuckDB in process)."""
        found = {field: os.environ.get(variable) for field, variable in ENGINE_ENV.items()}
        return cls(**{field: value for field, value in found.items() if value})

    def connection(self) -> ibis.BaseBackend:
        return shared_connection(
            self.backend,
            self.memory_limit,
            self.threads,
            self.temp_directory,
            self.spark_master,
            self.database,
            self.spark_staging,
        )

    def metadata(self) -> dict[str, str]:
        """The engine as the run's metadata records it: its name and where it runs (a database
        URL without its password; Spark's master URL and Spark's version)."""
        if self.backend == "spark":
            return {"engine": "spark", **spark_description(self.connection())}
        if self.backend == "postgres":
            return {"engine": "postgres", "database": redact(self.database or "")}
        return {"engine": "duckdb"}


ENGINE_ENV = {
    "backend": "RFM_PIPELINE_ENGINE",
    "spark_master": "RFM_PIPELINE_SPARK_MASTER",
    "spark_staging": "RFM_PIPELINE_SPARK_STAGING",
    "database": "RFM_PIPELINE_DATABASE",
}
"""The environment variables a deployment sets the engine with, by the field each sets."""


class Warehouse(dg.ConfigurableResource):
    """The base path of every output: tables, plots, models (local folder or s3:// / gs://).

    An output is `<name><suffix>`; a weekly one is `<name>/<week><suffix>` and, while it is the
    newest week written, `<name><suffix>` too: one stable path holds the latest week.

    Within a run, `keep` is called before each write (`Journal`). When a step fails, the run
    puts back every output it replaced, byte for byte, removes what it created, and records
    that in the instance (`put_back`), so the UI describes the files on disk; however the run
    was launched (UI, schedule, `rfm-pipeline run`, tests), this is the one place that happens.
    A run of a command's group (`GROUP_TAG`) that succeeds keeps its copies for the command,
    which puts back the whole group if a later run fails. A run killed mid-way cannot put its
    files back: the next run does, before it starts.
    """

    base_path: str | None = Field(
        default=None,
        description="Folder or URL (s3://, gs://) under which every output is written. None:"
        " $RFM_PIPELINE_WAREHOUSE, else the project's data/warehouse/, so the environment can move"
        " it.",
    )
    _journal: Journal | None = PrivateAttr(default=None)
    _outputs: dict[str, tuple[str, str | None]] = PrivateAttr(default_factory=dict)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run is None:
            return
        abandoned = Journal.abandoned(self.path(), context.run.run_id)
        runs = {journal.run_id for journal in abandoned}
        for journal in abandoned:
            try:
                count, assets = put_back(context.instance, journal, runs, journal.run_id)
            except Exception as error:  # nothing is written over a half put-back warehouse
                raise dg.Failure(put_back_failed(journal, error)) from None
            context.log.warning(
                f"run {journal.run_id} ended without putting its outputs back (killed mid-way,"
                f" or its put-back failed): {count} outputs put back{of_assets(assets)}"
            )
        self._journal = Journal(self.path(), context.run.run_id)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._journal is None or context.instance is None or context.run is None:
            return
        run_id = context.run.run_id
        if not context.instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
            if GROUP_TAG not in context.run.tags:
                self._journal.forget()
            return
        try:
            count, assets = put_back(context.instance, self._journal, {run_id}, run_id)
        except Exception as error:  # told in the run's log: the UI shows it
            context.log.error(put_back_failed(self._journal, error))
            return
        context.log.warning(f"a step failed: {count} outputs put back{of_assets(assets)}")

    def keep(self, *paths: UPath) -> None:
        """Note the current version of files this run is about to replace."""
        for path in paths:
            if self._journal is not None:
                self._journal.keep(path, self._outputs.get(str(path)))

    def path(self, *parts: str) -> UPath:
        """A path inside the warehouse; parts that would lead outside it are refused."""
        for part in parts:
            if part.startswith(("/", "\\")) or ".." in part.replace("\\", "/").split("/"):
                raise ValueError(f"'{part}' would lead outside the warehouse")
        return UPath(self.base_path or warehouse_path()).joinpath(*parts)

    def file(self, name: str, suffix: str, week: str | None = None) -> UPath:
        """The file of an output: the week's, or the stable path of an unpartitioned one."""
        return self.path(name, f"{week}{suffix}") if week else self.path(f"{name}{suffix}")

    def targets(self, name: str, suffix: str, week: str | None = None) -> list[UPath]:
        """Where an output goes: the week's file, then the stable path if no newer week exists.
        The first is the output's own file (the stable path copies the newest week's)."""
        stable = self.file(name, suffix)
        own = self.file(name, suffix, week)
        self._outputs[str(own)] = (name, week)  # so `keep` notes whose file it is
        if week is None:
            return [stable]
        newer = [p for p in self.path(name).glob(f"*{suffix}") if p.name[: -len(suffix)] > week]
        return [own] if newer else [own, stable]

    def publish(
        self, name: str, suffix: str, week: str | None, write: Callable[[UPath], None]
    ) -> list[UPath]:
        """Write an output once to each of its `targets` (kept first, so a failed run can put
        them back): `write` makes the first, the others are copies. Returns the paths."""
        paths = self.targets(name, suffix, week)
        self.keep(*paths)
        write(paths[0])
        for path in paths[1:]:
            copy_file(paths[0], path)
        return paths

    def withdraw(self, name: str, suffix: str, week: str | None = None) -> None:
        """Remove an output this run does not make (kept first, so a failed run puts it back),
        so that no file of an earlier input passes for this one's."""
        for path in self.targets(name, suffix, week):
            if path.exists():
                self.keep(path)
                path.unlink()


GROUP_TAG = "rfm_pipeline/command"
"""Set by `rfm-pipeline run` on every run it launches, one value per command: such a run
keeps its copies when it succeeds, so the command can put back all its runs if a later one
fails, and never leaves tables of two logs side by side."""

PUT_BACK_AFTER = "put_back_after"
"""Metadata of a materialisation reported again because its file was put back: the id of
the run after whose failure that happened."""

MADE_BY = "rfm_pipeline/made_by_run"
"""Tag of a materialisation reported again: the run that made the file it describes."""


def put_back(
    instance: dg.DagsterInstance | None, journal: Journal, runs: set[str], after: str
) -> tuple[int, list[str]]:
    """Put back the files `journal` kept, and make the instance describe them again
    (`record_put_back`; `runs`: every run being put back together). Returns how many files
    were put back and the assets the journal's run had materialised."""
    outputs = journal.outputs()
    count = journal.restore()
    if instance is None:
        return count, []
    there = {output: any(p.exists() for p in paths) for output, paths in outputs.items()}
    return count, record_put_back(instance, journal.run_id, there, runs | {journal.run_id}, after)


def record_put_back(
    instance: dg.DagsterInstance,
    run_id: str,
    there: dict[tuple[str, str | None], bool],
    runs: set[str],
    after: str,
) -> list[str]:
    """For each asset (and week) `run_id` materialised, make its latest materialisation the
    one of the file now on disk: its latest from a run not in `runs`, reported again with
    `put_back_after`; where the file is gone (`there`: (name, week) -> whether its file is on
    disk), no materialisation at all. Dagster wipes only a whole asset, so such an asset is
    wiped and its other weeks reported again. Returns the assets, by name."""
    touched: dict[dg.AssetKey, set[str | None]] = {}
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        touched.setdefault(materialization.asset_key, set()).add(materialization.partition)
    for key, weeks in touched.items():
        earlier = earlier_materializations(instance, key, runs)
        name = key.to_python_identifier()
        gone = {w for w in weeks if not there.get((name, w), w in earlier)}
        if gone:
            instance.wipe_assets([key])
        again = (set(earlier) | weeks) - gone if gone else weeks
        order = {w: earlier[w].storage_id if w in earlier else float("inf") for w in again}
        for week in sorted(again, key=order.__getitem__):
            record = earlier.get(week)
            found = record.asset_materialization if record else None
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    asset_key=key,
                    partition=week,
                    description=found.description if found else None,
                    metadata={**(found.metadata if found else {}), PUT_BACK_AFTER: after},
                    tags={**(found.tags or {}), MADE_BY: made_by(record)} if found else None,
                )
            )
    return sorted(key.to_user_string() for key in touched)


def earlier_materializations(
    instance: dg.DagsterInstance, key: dg.AssetKey, runs: set[str]
) -> dict[str | None, dg.EventLogRecord]:
    """The latest materialisation of each week of `key` (None: unpartitioned) from a run
    not in `runs`."""
    found: dict[str | None, dg.EventLogRecord] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(key, limit=1000, cursor=cursor)
        for record in page.records:  # newest first
            if made_by(record) not in runs:
                found.setdefault(record.partition_key, record)
        if not page.has_more:
            return found
        cursor = page.cursor


def made_by(record: dg.EventLogRecord) -> str:
    """The run that made a materialisation's file, also when it was reported again."""
    return record.run_id or (record.asset_materialization.tags or {}).get(MADE_BY, "")


def put_back_failed(journal: Journal, error: Exception, where: object = None) -> str:
    """The one line that says a put-back failed, and where the copies wait (`where`, else
    the journal's folder)."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if not journal.exists():
        run = journal.run_id
        return f"the outputs of run {run} are put back, but the instance cannot say so: {reason}"
    return (
        f"putting back the outputs of run {journal.run_id} failed: {reason}; the earlier"
        f" versions are kept in {where or journal.folder} and the next run puts them back"
    )


def of_assets(assets: list[str]) -> str:
    """`; the instance describes ... again` for a log line, or nothing."""
    if not assets:
        return ""
    return f"; the instance describes them again for {len(assets)} assets: {', '.join(assets)}"
