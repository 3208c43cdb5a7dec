"""The demo's replayed feed: daily exports named by day, moved forward by whole weeks."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from rfm_pipeline.cli import main
from rfm_pipeline.core.weeks import week_ended_before, week_start
from rfm_pipeline.demo import daily_exports, replay_shift
from rfm_pipeline_tests.conftest import UCI_ROWS, uci_frame


def test_the_replay_ends_in_the_last_week_ended_before_today():
    today = dt.date(2026, 11, 30)
    shift = replay_shift(dt.date(2011, 12, 9), today)
    assert shift.days % 7 == 0  # weekdays stay
    moved = dt.date(2011, 12, 9) + shift
    assert moved.weekday() == 4
    assert week_start(moved) == week_ended_before(dt.datetime(2026, 11, 30))
    assert week_start(moved) == dt.date(2026, 11, 23)


def test_daily_exports_hold_each_days_lines_in_order_moved_by_the_shift(tmp_path):
    log = uci_frame(UCI_ROWS)
    files = daily_exports(log, tmp_path, dt.timedelta(weeks=2))
    assert [f.name for f in files] == ["2010-12-15.csv", "2010-12-16.csv", "2010-12-17.csv"]
    second = pd.read_csv(files[1], dtype=str)
    assert second["InvoiceNo"].tolist() == ["C536379", "536380", "536381"]
    assert second["InvoiceDate"].iloc[0] == "2010-12-16 09:41:00"
    together = pd.concat(pd.read_csv(f) for f in files)
    assert together["InvoiceNo"].astype(str).tolist() == [row[0] for row in UCI_ROWS]


def test_the_demo_needs_at_least_one_week(capsys):
    assert main(["demo", "--weeks", "0"]) == 2
    assert "--weeks must be 1 or more" in capsys.readouterr().err
