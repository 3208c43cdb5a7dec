"""`rfm-pipeline demo`: the weekly refresh on a live feed of daily exports, replayed from the
bundled data.

The bundled log is moved forward by whole weeks (weekdays stay), so that its last week is the
one that ended before today, and split into one CSV export per day, as a till would write them
(`<folder>/till/YYYY-MM-DD.csv`). The history before the last `weeks` weeks lands in the drop
folder (`<folder>/exports/`) at once; then, a week at a time, that week's exports land and the
weekly job runs for it on the drop folder: `raw_transactions` reads only the new files (its
manifest), the week's segments are matched to the week before's, and the summary says how many
weeks the newest one is behind (the UI's freshness policy on customer_segments goes by when it
was materialised, so every replayed week is fresh there).

Everything goes under `<folder>` (default `data/demo/`): its own warehouse and Dagster
instance, so the project's runs stay apart; `make demo-ui` opens the UI on it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rfm_pipeline.core.weeks import WEEK, week_ended_before, week_start
from rfm_pipeline.settings import BUNDLED_INPUT, PROJECT_ROOT

DEMO_FOLDER = PROJECT_ROOT / "data" / "demo"
PARTS = ("till", "exports", "warehouse", ".dagster_home")
"""What the demo makes under its folder, and removes when it starts again."""


def daily_exports(log: pd.DataFrame, folder: Path, shift: dt.timedelta) -> list[Path]:
    """One CSV file per day of the log, dates moved by `shift`, lines in the log's order,
    named by the day so that name order is time order."""
    folder.mkdir(parents=True, exist_ok=True)
    dates = pd.to_datetime(log["InvoiceDate"]) + shift
    shifted = log.assign(InvoiceDate=dates.dt.strftime("%Y-%m-%d %H:%M:%S"))
    paths = []
    for day, part in shifted.groupby(dates.dt.date, sort=True):
        paths.append(folder / f"{day}.csv")
        part.to_csv(paths[-1], index=False)
    return paths


def replay_shift(last_day: dt.date, today: dt.date) -> dt.timedelta:
    """Whole weeks that move the week of `last_day` onto the last week ended before `today`."""
    now = dt.datetime.combine(today, dt.time())
    return week_ended_before(now) - week_start(last_day)


def demo(
    run: Callable[[list[str]], int],
    folder: Path = DEMO_FOLDER,
    weeks: int = 3,
    today: dt.date | None = None,
) -> int:
    """Replay the bundled data as daily exports and run the weekly job on the last `weeks`
    weeks, one at a time, through `run` (the command line's `main`, given its arguments);
    print what each week read, decided and how far behind it is."""
    for part in PARTS:
        shutil.rmtree(folder / part, ignore_errors=True)
    os.environ["DAGSTER_HOME"] = str(folder / ".dagster_home")
    log = pd.read_parquet(BUNDLED_INPUT)
    shift = replay_shift(pd.to_datetime(log["InvoiceDate"]).max().date(), today or dt.date.today())
    till, exports, warehouse = folder / "till", folder / "exports", folder / "warehouse"
    days = {dt.date.fromisoformat(p.stem): p for p in daily_exports(log, till, shift)}
    last_week = week_start(max(days))
    replayed = [last_week - WEEK * n for n in reversed(range(weeks))]
    exports.mkdir(parents=True)
    history = [p for day, p in days.items() if day < replayed[0]]
    _drop(history, exports)
    print(
        f"demo: the bundled log moved {shift.days // 7} weeks on, as {len(days)} daily exports"
        f" in {till}; {len(history)} of them dropped into {exports}"
    )
    for week in replayed:
        arrived = [p for day, p in days.items() if week <= day < week + WEEK]
        _drop(arrived, exports)
        print(
            f"\ndemo: week {week}: {len(arrived)} new exports"
            f" ({arrived[0].stem} to {arrived[-1].stem})"
        )
        code = run(
            [
                "run",
                "--input",
                str(exports),
                "--warehouse",
                str(warehouse),
                "--week",
                week.isoformat(),
            ]
        )
        if code:
            return code
        print(week_summary(week.isoformat()))
    print(
        f"\ndemo: done; browse it with `make demo-ui` (weeks, transitions, freshness), or drop"
        f" more files into {exports} and switch new_exports_sensor on there"
    )
    return 0


def _drop(files: list[Path], exports: Path) -> None:
    """Files landing in the drop folder whole: copied beside it, then renamed in."""
    for file in files:
        partial = exports / f".{file.name}.part"
        shutil.copyfile(file, partial)
        partial.replace(exports / file.name)


def week_summary(week: str) -> str:
    """What the week read and decided, from the instance, and how far behind the newest week is."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:

        def meta(asset: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            found = event.asset_materialization.metadata if event else {}
            return {key: value.value for key, value in found.items()}

        raw, segments, moves = (
            meta("raw_transactions"),
            meta("customer_segments"),
            meta("segment_transitions"),
        )
        newest = max(instance.get_materialized_partitions(dg.AssetKey("customer_segments")))
    behind = (week_ended_before(dt.datetime.now(dt.UTC)) - dt.date.fromisoformat(newest)).days // 7
    return "\n".join(
        [
            f"demo: week {week}: read {raw.get('read')}",
            f"demo: segments kept {segments.get('segments_kept')}, new"
            f" {segments.get('segments_new')}, vanished {segments.get('segments_vanished')};"
            + " moves "
            + ", ".join(
                f"{m} {moves.get(f'moved_{m}', 0):,}" for m in ("same", "up", "down", "new")
            ),
            f"demo: the newest week is {newest}: "
            + (f"{behind} week(s) behind the last week ended" if behind > 0 else "current"),
        ]
    )
