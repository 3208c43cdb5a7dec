"""Tables on disk: Parquet under one base path, written atomically so a failed run loses nothing."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from rfm_pipeline.core.engine import copy_into, redact, runs_elsewhere, write_parquet

Tabular = ir.Table | pd.DataFrame | pa.Table


def is_local(path: UPath) -> bool:
    """Whether the path is on this machine's file system."""
    return path.protocol in ("", "file", "local")


def write_table(table: Tabular, path: UPath) -> None:
    """Write a table as Parquet at `path`: either the old file stays or the new one is whole.

    Ibis tables are written by their engine (never through pandas); frames through pyarrow.
    """
    remote = isinstance(table, ir.Table) and runs_elsewhere(table)
    if remote and not is_local(path):  # its executors would write to their own folders
        raise ValueError(
            f"{path}: Spark on a cluster writes tables from its executors, which cannot"
            " reach this machine's temporary folder for the upload: give a --warehouse"
            " folder every host mounts"
        )
    atomically(path, lambda local: _write(table, local))


def write_export(frame: pd.DataFrame, path: UPath) -> None:
    """A frame for people and other tools: CSV or Parquet by the path's suffix, atomically."""
    if path.suffix == ".csv":
        atomically(path, lambda local: frame.to_csv(local, index=False))
    elif path.suffix == ".parquet":
        write_table(frame, path)
    else:
        raise ValueError(f"{path}: write .csv or .parquet, not '{path.suffix}'")


def export_to_database(frame: pd.DataFrame, url: str, table: str, week: str) -> int:
    """The week's rows of `frame` into a PostgreSQL table with a `week` column (created on
    first use): the week's earlier rows are deleted and the new ones copied in one
    transaction, so a reader sees the previous version whole until the new one is; other
    weeks stay. A table whose columns differ is refused. Returns the rows written."""
    import psycopg
    from psycopg import sql

    rows = pa.Table.from_pandas(
        frame.assign(week=dt.date.fromisoformat(week)), preserve_index=False
    )
    where = f"{redact(url)} table {table}"
    try:
        with psycopg.connect(url) as connection, connection.transaction():
            name = sql.Identifier(*table.split("."))
            found = connection.execute("SELECT to_regclass(%s)", [table]).fetchone()[0]
            if found:
                cursor = connection.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(name))
                columns = [c.name for c in cursor.description]
                if columns != rows.column_names:
                    odd = sorted(set(columns) ^ set(rows.column_names)) or ["(their order)"]
                    raise ValueError(f"{where}: its columns differ from the export's: {odd}")
                connection.execute(
                    sql.SQL("DELETE FROM {} WHERE week = %s").format(name),
                    [rows["week"][0].as_py()],
                )
            return copy_into(
                connection, table, rows.to_reader(max_chunksize=100_000), create=not found
            )
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        raise ValueError(f"{where}: cannot write the export: {redact(reason)}") from None


def write_bytes(data: bytes, path: UPath) -> None:
    """Write bytes (an image, a report) at `path`, atomically."""
    atomically(path, lambda local: local.write_bytes(data))


def copy_file(source: UPath, target: UPath) -> None:
    """Copy a written file (or a folder of parts) to another path, atomically."""
    if source.is_dir():
        atomically(target, lambda local: source.fs.get(source.path, str(local), recursive=True))
    else:
        atomically(target, lambda local: local.write_bytes(source.read_bytes()))


def atomically(path: UPath, write: Callable[[Path], object]) -> None:
    """Run `write` on a temporary local file, then move it to `path` in one step.

    Locally the file is written beside its target and renamed over it; for an object store it
    is uploaded whole. Either way a crash mid-write never leaves a partial file at `path`.
    """
    if is_local(path):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        _remove_partial(target)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            write(temporary)
            _replace(temporary, target)
        finally:
            _remove(temporary)
        return
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / path.name
        write(local)
        if local.is_dir():
            if path.exists():
                path.fs.rm(path.path, recursive=True)
            path.fs.put(str(local), path.path, recursive=True)
        else:
            path.fs.put_file(str(local), path.path)


def _replace(source: Path, target: Path) -> None:
    """Move a file or folder over `target`: one rename for a file; a folder (Spark's parts)
    first moves the old folder aside, so a reader finds the old or the new one whole."""
    if not source.is_dir() and not target.is_dir():
        os.replace(source, target)
        return
    aside = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    if target.exists():
        os.replace(target, aside)
    try:
        os.replace(source, target)
    finally:
        _remove(aside)


def _remove(path: Path) -> None:
    """Remove a file or a folder, if it is there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write(table: Tabular, path: Path) -> None:
    if isinstance(table, ir.Table):
        write_parquet(table, path)
    elif isinstance(table, pd.DataFrame):
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), path)
    elif isinstance(table, pa.Table):
        pq.write_table(table, path)
    else:
        raise TypeError(f"cannot store a {type(table).__name__} as a table")


class Journal:
    """What one run replaced in the warehouse, so that a failed run can put everything back.

    Before a run writes a file, `keep` copies the current version aside (or notes that there was
    none) and notes which output the file is, if told; `restore` puts every kept version back
    and removes files the run created; `forget` drops the copies once the run has succeeded. A
    run killed before either leaves its journal behind with the process that wrote it, and so
    does a restore that failed; `abandoned` lists such journals, newest first, for the next
    run to restore. Object stores are not journalled.
    """

    def __init__(self, root: UPath, run_id: str) -> None:
        self.root = Path(root.path).resolve() if is_local(root) else None
        self.folder = self.root / ".previous" / run_id if self.root else None
        self.run_id = run_id

    def keep(self, path: UPath, output: tuple[str, str | None] | None = None) -> None:
        """Keep the current version of `path`; `output`: the (name, week) whose file it is."""
        if self.folder is None or not is_local(path):
            return
        target = Path(path.path).resolve()
        relative = target.relative_to(self.root)
        copy, created = self.folder / relative, self.folder / CREATED
        if not self.folder.exists():
            self.folder.mkdir(parents=True)
            (self.folder / OWNER).write_text(f"{socket.gethostname()} {os.getpid()}\n")
            (self.folder / STARTED).write_text(f"{time.time_ns()}\n")
        noted = created.exists() and str(relative) in created.read_text().splitlines()
        if copy.exists() or noted:
            return
        if output is not None:
            with (self.folder / OUTPUTS).open("a") as handle:
                handle.write(f"{relative}\t{output[0]}\t{output[1] or ''}\n")
        if target.is_dir():
            shutil.copytree(target, copy)
        elif target.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, copy)
        else:
            with created.open("a") as handle:
                handle.write(f"{relative}\n")

    def outputs(self) -> dict[tuple[str, str | None], list[Path]]:
        """The files of each output `keep` was told of, by (name, week): read before `restore`
        to see afterwards which outputs are there again and which are gone."""
        notes = self.folder / OUTPUTS if self.folder else None
        found: dict[tuple[str, str | None], list[Path]] = {}
        for line in notes.read_text().splitlines() if notes and notes.exists() else []:
            relative, name, week = line.split("\t")
            found.setdefault((name, week or None), []).append(self.root / relative)
        return found

    def restore(self) -> int:
        """Put the kept versions back and remove what the run created (and what a killed
        writer of the run left half-written); returns the files restored. A restore that
        fails part-way leaves the rest of the journal, no longer owned, for the next run."""
        if self.folder is None or not self.folder.exists():
            return 0
        created = self.folder / CREATED
        count = 0
        (self.folder / OWNER).unlink(missing_ok=True)
        if created.exists():
            for relative in created.read_text().splitlines():
                _remove_partial(self.root / relative)
                _remove(self.root / relative)
                count += 1
            created.unlink()
        for copy in sorted(self._kept()):
            target = self.root / copy.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)  # a folder removed since
            _remove_partial(target)
            _replace(copy, target)
            count += 1
        self.forget()
        return count

    def _kept(self) -> list[Path]:
        """The kept copies: files, and outputs that are folders, named with a suffix as files
        are (a table Spark wrote, `*.parquet/`; a forecast, `*.forecast/`): put back whole."""
        kept, folders = [], [self.folder]
        while folders:
            folder = folders.pop()
            for entry in folder.iterdir():
                if folder == self.folder and entry.name in NOTES:
                    continue
                if entry.is_dir() and not entry.suffix:
                    folders.append(entry)
                else:
                    kept.append(entry)
        return kept

    def forget(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            if self.folder.parent.exists() and not any(self.folder.parent.iterdir()):
                self.folder.parent.rmdir()

    def release(self) -> None:
        """Leave the journal to the next run, as if its process were gone (a command that
        could not put it back itself)."""
        if self.folder is not None:
            (self.folder / OWNER).unlink(missing_ok=True)

    def exists(self) -> bool:
        """Whether anything of the journal is left on disk."""
        return self.folder is not None and self.folder.exists()

    def alive(self) -> bool:
        """Whether the process that keeps this journal still runs (on this machine)."""
        owner = self.folder / OWNER if self.folder else None
        if owner is None or not owner.exists():
            return False
        host, _, pid = owner.read_text().strip().partition(" ")
        if host != socket.gethostname():
            return True  # another machine's run: not ours to judge
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True

    def started(self) -> int:
        """When the run began keeping files (nanoseconds; 0 if unknown)."""
        note = self.folder / STARTED if self.folder else None
        text = note.read_text().strip() if note and note.exists() else ""
        return int(text) if text.isdigit() else 0

    @classmethod
    def abandoned(cls, root: UPath, current: str) -> list[Journal]:
        """The journals of runs other than `current` whose process is gone without restoring
        or forgetting (a run killed mid-way, a restore that failed), newest first: the order
        in which to restore them when several replaced the same file."""
        if not is_local(root):
            return []
        folder = Path(root.path).resolve() / ".previous"
        runs = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.exists() else []
        journals = [cls(root, run) for run in runs if run != current]
        return sorted((j for j in journals if not j.alive()), key=cls.started, reverse=True)


OWNER = "owner.txt"
"""In a journal: the host and process id of the run that keeps it."""
CREATED = "created.txt"
"""In a journal: the files the run created, one a line."""
OUTPUTS = "outputs.txt"
"""In a journal: each kept file's output, a line `file<TAB>name<TAB>week`."""
STARTED = "started.txt"
"""In a journal: when the run kept its first file (nanoseconds since the epoch)."""
NOTES = (OWNER, CREATED, OUTPUTS, STARTED)
"""A journal's own notes, beside the kept copies."""


def _remove_partial(target: Path) -> None:
    """Remove what a killed writer left beside `target` (see `atomically`)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        _remove(stale)
