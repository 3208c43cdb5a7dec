"""The project's exception for bad input: one line naming the file, the column and examples."""

from __future__ import annotations

from collections.abc import Iterable

from rfm_pipeline.core.engine import redact


class InputError(Exception):
    """Input that cannot be turned into transactions; its message is one line for the user."""

    def __init__(
        self,
        path: object,
        problem: str,
        column: str | None = None,
        values: Iterable[object] = (),
    ) -> None:
        self.path = redact(path)  # a database URL's password is never shown
        self.column = column
        self.values = list(values)[:3]
        self.problem = problem
        where = f"{self.path}: column '{column}': " if column else f"{self.path}: "
        shown = ", ".join(repr(v) for v in self.values)
        message = where + problem + (f": {shown}" if shown else "")
        super().__init__(" ".join(message.split()))


class NotEnoughData(ValueError):
    """Too little data for a stage to mean anything: the stage is skipped with this message."""
