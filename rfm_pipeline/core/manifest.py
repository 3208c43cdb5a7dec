"""Reading only what is new: a manifest of the files a log was read from (name, size, content
hash), kept beside the stored log, so that a run whose earlier files are unchanged reads only
the files added since and appends their lines to the stored log, on the engine.

Appending gives the table a full read would: line numbers go on from the stored lines, and a
file added later sorts after the earlier ones. Anything else (a file changed or removed, one
that sorts before files already read, other reading options, a stored log that does not match
its manifest, new lines that do not read as the earlier ones did) means a full read, and the
reason is returned with the log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import ibis
import ibis.expr.types as ir

from rfm_pipeline.core.engine import is_database_url
from rfm_pipeline.core.errors import InputError
from rfm_pipeline.core.ingest import Log, fingerprints, read_log


@dataclass(frozen=True)
class Manifest:
    """What the stored log was read from, and how."""

    reading: dict[str, object]  # the location, the reader's version and the reading options
    files: dict[str, str]  # name -> "size:content hash", in name order
    lines: int  # lines read from them: the first line number of the next file
    date_format: str | None  # the date layout the files were read with (None: ISO or typed)
    date_layout: str
    columns: list[str]  # the files' columns as the engine read them

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest | None:
        """The manifest, or None for one this version cannot read (then the log is read whole)."""
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class Read:
    """A log read, the manifest to keep with it, and how it was read."""

    log: Log
    manifest: Manifest | None  # None for a database table: it is read whole every time
    how: str  # "appended ...", "unchanged ...", or "full: <why>"
    files: list[str]  # the files read this time


def read_since(
    con: ibis.BaseBackend,
    path: str,
    previous: Manifest | None,
    stored: ir.Table | None,
    version: str,
    **reading: object,
) -> Read:
    """The log at `path` (see `read_log`), reading only the files added since `previous`
    when the earlier ones are unchanged and `stored` holds what was read from them."""
    if is_database_url(path):
        return Read(read_log(con, path, **reading), None, "full: a table is read whole", [])
    current = fingerprints(path)
    options = json.loads(json.dumps({"location": path, "version": version, **reading}))
    stored_lines = int(stored.count().execute()) if stored is not None else None
    new, how = plan(previous, options, current, stored_lines)
    if new is not None:
        try:
            log = _appended(con, path, previous, stored, new, reading)
        except InputError as error:
            how = f"full: the new files do not read as the earlier ones ({error.problem})"
        else:
            lines = int(log.table.count().execute())
            return Read(log, replace(previous, files=current, lines=lines), how, new)
    log = read_log(con, path, **reading)
    lines = int(log.table.count().execute())
    kept = Manifest(options, current, lines, log.date_format, log.date_layout, list(log.columns))
    return Read(log, kept, how, list(current))


def plan(
    previous: Manifest | None,
    options: Mapping[str, object],
    current: Mapping[str, str],
    stored_lines: int | None,
) -> tuple[list[str] | None, str]:
    """The files to append to the stored log (None: read everything again), and why."""
    if previous is None:
        return None, "full: no earlier read to add to"
    if previous.reading != options:
        changed = sorted(
            k
            for k in options.keys() | previous.reading.keys()
            if options.get(k) != previous.reading.get(k)
        )
        return None, f"full: {', '.join(changed)} changed since the last read"
    if stored_lines != previous.lines:
        return None, "full: the stored log does not match its manifest"
    removed = [name for name in previous.files if name not in current]
    if removed:
        return None, f"full: {some(removed)} removed"
    changed = [name for name, print_ in previous.files.items() if current[name] != print_]
    if changed:
        return None, f"full: {some(changed)} changed"
    new = [name for name in current if name not in previous.files]
    early = [name for name in new if name < max(previous.files)]
    if early:
        return None, f"full: {some(early)} sorts before files already read"
    if not new:
        return [], f"unchanged: the {len(previous.files)} files read before"
    return new, f"appended {len(new)} new file(s) to the {len(previous.files)} read before"


def _appended(
    con: ibis.BaseBackend,
    path: str,
    previous: Manifest,
    stored: ir.Table,
    new: list[str],
    reading: Mapping[str, object],
) -> Log:
    """The stored log with the new files' lines after it, read as the earlier files were."""
    if not new:
        return Log(stored, previous.date_layout, previous.date_format, tuple(previous.columns))
    options = {**reading, "date_format": previous.date_format}
    log = read_log(con, path, **options, names=new, first_line=previous.lines)
    if log.date_format != previous.date_format:
        raise InputError(path, f"the new files' dates read as {log.date_layout}")
    if list(log.columns) != previous.columns:
        odd = sorted(set(log.columns) ^ set(previous.columns))
        raise InputError(path, "the new files' columns differ from the earlier ones'", values=odd)
    appended = ibis.union(stored, log.table.cast(stored.schema()), distinct=False)
    return Log(appended, previous.date_layout, previous.date_format, tuple(previous.columns))


def some(names: list[str], shown: int = 3) -> str:
    """File names for a message: the first `shown`, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
