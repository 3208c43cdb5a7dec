"""The engine every transaction-level asset runs on, and the warehouse every output goes to."""

from collections.abc import Callable
from typing import Literal

import dagster as dg
import ibis
from pydantic import PrivateAttr
from upath import UPath

from rfm_pipeline.core.engine import redact, shared_connection
from rfm_pipeline.core.storage import Journal, copy_file
from rfm_pipeline.settings import warehouse_path


class Engine(dg.ConfigurableResource):
    """Where the transaction-level assets run: DuckDB in process (the default), Spark (local
    mode or a cluster's master URL) or a PostgreSQL database, all through the same Ibis
    expressions. DuckDB spills to `temp_directory` past `memory_limit`. Give a database
    URL without its password: libpq reads `PGPASSWORD` and `~/.pgpass` as usual."""

    backend: Literal["duckdb", "spark", "postgres"] = "duckdb"
    memory_limit: str = "4GB"
    threads: int | None = None
    temp_directory: str | None = None
    spark_master: str = "local[2]"
    database: str | None = None  # postgresql://user@host:5432/db, for the postgres engine

    def connection(self) -> ibis.BaseBackend:
        return shared_connection(
            self.backend,
            self.memory_limit,
            self.threads,
            self.temp_directory,
            self.spark_master,
            self.database,
        )

    def describe(self) -> str:
        """The engine as metadata shows it (a database URL without its password)."""
        where = {"spark": self.spark_master, "postgres": redact(self.database or "")}
        return f"{self.backend} {where[self.backend]}" if self.backend in where else self.backend


class Warehouse(dg.ConfigurableResource):
    """The base path of every output: tables, plots, models (local folder or s3:// / gs://).

    An output is `<name><suffix>`; a weekly one is `<name>/<week><suffix>` and, while it is the
    newest week written, `<name><suffix>` too: one stable path holds the latest week.

    Within a run, `keep` is called before each write (`Journal`). When the run ends, a step
    that failed puts back every output the run replaced, byte for byte, and removes what it
    created; however the run was launched (UI, schedule, `rfm-pipeline run`, tests), this is
    the one place that happens. A run killed mid-way cannot: the next run puts its files back
    before it starts.
    """

    base_path: str | None = None  # None: $RFM_PIPELINE_WAREHOUSE, else data/warehouse/
    _journal: Journal | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if context.run is None:
            return
        for run_id, count in Journal.recover(self.path(), context.run.run_id).items():
            context.log.warning(f"run {run_id} was killed mid-way: {count} outputs put back")
        self._journal = Journal(self.path(), context.run.run_id)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._journal is None or context.instance is None or context.run is None:
            return
        failed = context.instance.all_logs(
            context.run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
        )
        if failed:
            restored = self._journal.restore()
            context.log.info(f"a step failed: {restored} outputs put back as they were")
        else:
            self._journal.forget()

    def keep(self, *paths: UPath) -> None:
        """Note the current version of files this run is about to replace."""
        for path in paths:
            if self._journal is not None:
                self._journal.keep(path)

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
        """Where an output goes: the week's file, then the stable path if no newer week exists."""
        stable = self.file(name, suffix)
        if week is None:
            return [stable]
        weekly = self.file(name, suffix, week)
        newer = [p for p in self.path(name).glob(f"*{suffix}") if p.name[: -len(suffix)] > week]
        return [weekly] if newer else [weekly, stable]

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
